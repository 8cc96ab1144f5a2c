import { createServer, type IncomingMessage, type Server } from 'node:http';

// A local stand-in for SendGrid's v3 API: `POST /v3/mail/send` on 127.0.0.1, recording every
// request (parsed body and Authorization header). By default it accepts with 202 and an empty body,
// as SendGrid does; `failNext([500, 500, 500])` makes the next requests answer those statuses first.
// Point the app at it with SENDGRID_API_KEY set and SENDGRID_API_URL = fake.url.

/** The request body @sendgrid/mail sends (the parts the tests read). */
export interface SendgridMailBody {
  from: { email: string; name?: string };
  subject?: string;
  personalizations: Array<{ to: Array<{ email: string; name?: string }> }>;
  content: Array<{ type: string; value: string }>;
  custom_args?: Record<string, string>;
  tracking_settings?: unknown;
}

export interface ReceivedMail {
  /** The status the fake answered with. */
  status: number;
  authorization: string | undefined;
  body: SendgridMailBody;
  /** The first recipient. */
  to: string;
  subject: string;
  text: string;
  html: string;
  receivedAt: number;
}

export interface SendgridFake {
  url: string;
  /** Every request, in arrival order, whatever it was answered. */
  readonly requests: ReceivedMail[];
  /** The requests answered with 202: the mails SendGrid would deliver. */
  delivered(): ReceivedMail[];
  /** The next requests are answered with these statuses, in order; then 202 again. */
  failNext(statuses: number[]): void;
  /** Every request is answered with `status` until `failNext`/`reset` changes it. */
  failAlways(status: number): void;
  /** Forgets the recorded requests and the planned failures. */
  reset(): void;
  /** Resolves with the delivered mails once at least `count` of them (matching `filter`) arrived. */
  waitForMails(count: number, options?: { to?: string; template?: string; timeoutMs?: number }): Promise<ReceivedMail[]>;
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startSendgridFake(): Promise<SendgridFake> {
  const requests: ReceivedMail[] = [];
  let planned: number[] = [];
  let always: number | undefined;
  const waiters = new Set<() => void>();

  const server: Server = createServer(async (req, res) => {
    const raw = await readBody(req);
    if (req.method !== 'POST' || req.url !== '/v3/mail/send') {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ message: 'not found' }] }));
      return;
    }
    let body: SendgridMailBody;
    try {
      body = JSON.parse(raw) as SendgridMailBody;
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ message: 'bad json' }] }));
      return;
    }
    const status = planned.length ? planned.shift()! : (always ?? 202);
    const content = (type: string) => body.content?.find((c) => c.type === type)?.value ?? '';
    requests.push({
      status,
      authorization: req.headers.authorization,
      body,
      to: body.personalizations?.[0]?.to?.[0]?.email ?? '',
      subject: body.subject ?? '',
      text: content('text/plain'),
      html: content('text/html'),
      receivedAt: performance.now(),
    });
    if (status === 202) {
      res.writeHead(202, { 'x-message-id': `fake-${requests.length}` });
      res.end();
    } else {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ message: `fake failure ${status}`, field: null, help: null }] }));
    }
    for (const wake of waiters) wake();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };

  const delivered = () => requests.filter((r) => r.status === 202);

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    delivered,
    failNext(statuses) {
      planned = [...statuses];
    },
    failAlways(status) {
      always = status;
    },
    reset() {
      requests.length = 0;
      planned = [];
      always = undefined;
    },
    waitForMails(count, { to, template, timeoutMs = 15_000 } = {}) {
      const matching = () =>
        delivered().filter((m) => (to === undefined || m.to === to) && (template === undefined || m.body.custom_args?.template === template));
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = matching();
          if (found.length < count) return false;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(found);
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`the SendGrid fake received ${matching().length} of ${count} mails${to ? ` to ${to}` : ''} within ${timeoutMs} ms`));
        }, timeoutMs);
        if (!check()) waiters.add(check);
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

// Reading the secrets out of a mail, as a user would.

/** The first link of a mail's text to `path` (e.g. /auth/magic-link), parsed. */
export function linkIn(text: string, path: string): URL {
  for (const match of text.matchAll(/https?:\/\/[^\s"'<>]+/g)) {
    const url = new URL(match[0]);
    if (url.pathname.endsWith(path)) return url;
  }
  throw new Error(`no ${path} link in the mail: ${text}`);
}

/** The token of the magic link in a mail's text. */
export function magicLinkTokenIn(text: string): string {
  const token = linkIn(text, '/auth/magic-link').searchParams.get('token');
  if (!token) throw new Error('the magic link carries no token');
  return token;
}

/** The 6-digit code in a mail's text ("Your sign-in code is 123456"). */
export function emailCodeIn(text: string): string {
  const match = /\bcode is (\d{6})\b/.exec(text);
  if (!match) throw new Error(`no 6-digit code in the mail: ${text}`);
  return match[1]!;
}

/** Polls `probe` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function eventually<T>(probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 15_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value as T;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
