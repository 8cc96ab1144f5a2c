import { createServer, type ServerResponse } from 'node:http';

// A SendGrid stand-in that misbehaves the ways issue 21 lists: it can hold its first request
// without ever answering (the worker sending it is then killed), or accept every mail and answer
// only after a delay (longer than an impatient client waits). A mail counts as accepted when the
// provider has taken it: a held request is not, a request answered late is, at once (whether or
// not the client is still there to read the answer).

export interface SlowProvider {
  url: string;
  /** Mail ids (custom_args.mailId) of the mails the provider accepted, in order. */
  accepted: string[];
  /** Every request received, held ones included. */
  received: number;
  /** Resolves once `n` requests have arrived. */
  untilReceived(n: number, ms?: number): Promise<void>;
  close(): Promise<void>;
}

interface SlowProviderOptions {
  holdFirst?: boolean;
  answerAfterMs?: number;
  /** Only mail to this address is watched; other mail (left queued by earlier runs) is taken at once, uncounted. */
  onlyTo?: string;
}

export async function startSlowProvider({ holdFirst = false, answerAfterMs = 0, onlyTo }: SlowProviderOptions = {}): Promise<SlowProvider> {
  const held: ServerResponse[] = [];
  const provider: SlowProvider = {
    url: '',
    accepted: [],
    received: 0,
    async untilReceived(n, ms = 15_000) {
      const deadline = Date.now() + ms;
      while (provider.received < n) {
        if (Date.now() > deadline) throw new Error(`the provider received ${provider.received} of ${n} requests`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of held) res.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  const server = createServer(async (req, res) => {
    let raw = '';
    for await (const chunk of req) raw += chunk;
    const mail = JSON.parse(raw) as { custom_args?: { mailId?: string }; personalizations?: { to?: { email?: string }[] }[] };
    if (onlyTo && mail.personalizations?.[0]?.to?.[0]?.email !== onlyTo) return void res.writeHead(202).end();
    provider.received++;
    if (holdFirst && provider.received === 1) return void held.push(res);
    const mailId = mail.custom_args?.mailId ?? '';
    provider.accepted.push(mailId); // taken at once; the answer may come late
    const answer = () => void (res.destroyed || res.writeHead(202).end());
    if (answerAfterMs) setTimeout(answer, answerAfterMs);
    else answer();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  provider.url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return provider;
}
