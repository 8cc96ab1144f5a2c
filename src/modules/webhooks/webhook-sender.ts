import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { checkedLookup, resolvePublic } from './webhook-address.ts';

// One HTTP POST to a receiver: connected only to an address that passed the SSRF check, within a
// total timeout, redirects not followed (a 3xx is a failure), at most `maxResponseBytes` read.

export interface SendOptions {
  timeoutMs: number;
  maxResponseBytes: number;
  allowPrivate: boolean;
}

/** The response status, or an Error (network, timeout, refused target). */
export async function postWebhook(url: string, headers: Record<string, string>, body: string, options: SendOptions): Promise<number> {
  const target = new URL(url);
  // An IP literal skips `lookup`, so it is checked here; a name is checked on the address connected to.
  await resolvePublic(target.hostname, options.allowPrivate);
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<number>((resolve, reject) => {
    const req = request(target, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), 'user-agent': 'Portcullis-Webhooks' },
      lookup: checkedLookup(options.allowPrivate),
    });
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${options.timeoutMs} ms`)), options.timeoutMs);
    const finish = (err: Error | null, status?: number) => {
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(status!);
    };
    req.on('error', (err) => finish(err));
    req.on('response', (res) => {
      let read = 0;
      res.on('data', (chunk: Buffer) => {
        read += chunk.length;
        // The status is all we keep: stop reading a large answer rather than buffer it.
        if (read >= options.maxResponseBytes) {
          finish(null, res.statusCode);
          res.destroy();
        }
      });
      res.on('end', () => finish(null, res.statusCode));
      res.on('error', (err) => finish(err));
    });
    req.end(body);
  });
}
