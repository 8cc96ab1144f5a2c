import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

// A webhook receiver on a loopback port (the tests and the webhook benchmark): verifies each request
// with the standardwebhooks library and keeps what arrived. `answer` decides the status of each
// request (the default: 204).

type Answer = number | { status: number; headers?: Record<string, string>; body?: string };

export interface Received {
  id: string;
  path: string;
  status: number;
  verified: boolean;
  body: string;
  headers: IncomingHttpHeaders;
  payload: { type: string; timestamp: string; data: Record<string, any> } | null;
  arrivedAt: number;
}

export interface Receiver {
  url: string;
  received: Received[];
  /** Accepted and verified deliveries. */
  accepted(): Received[];
  secret: string | undefined;
  /** The status to answer (or status, headers and body); a promise that never settles leaves the request hanging. */
  answer: (request: { id: string; count: number }) => Answer | Promise<Answer>;
  waitFor(predicate: (received: Received[]) => boolean, timeoutMs?: number): Promise<Received[]>;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const receiver: Receiver = {
    url: '',
    received: [],
    secret: undefined,
    accepted: () => receiver.received.filter((r) => r.verified && r.status >= 200 && r.status < 300),
    answer: () => 204,
    async waitFor(predicate, timeoutMs = 20_000) {
      const end = Date.now() + timeoutMs;
      while (!predicate(receiver.received)) {
        if (Date.now() > end) throw new Error(`receiver: condition not met in ${timeoutMs} ms (${receiver.received.length} received)`);
        await new Promise((r) => setTimeout(r, 25));
      }
      return receiver.received;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const id = String(req.headers['webhook-id'] ?? '');
      let verified = false;
      try {
        new Webhook(receiver.secret!).verify(body, req.headers as Record<string, string>);
        verified = true;
      } catch {
        verified = false;
      }
      const count = receiver.received.filter((r) => r.id === id).length;
      let payload = null;
      try {
        payload = JSON.parse(body);
      } catch {}
      // Kept at once (status 0 until answered): a request left hanging is still seen.
      const entry: Received = { id, path: req.url ?? '', status: 0, verified, body, headers: req.headers, payload, arrivedAt: Date.now() };
      receiver.received.push(entry);
      const answer = await receiver.answer({ id, count });
      const { status, headers, body: text } = typeof answer === 'number' ? { status: answer, headers: {}, body: '' } : answer;
      entry.status = status;
      res.writeHead(status, headers).end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return receiver;
}
