import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

// A local stand-in for SendGrid's v3 API, shared by the tests and the benches: `POST /v3/mail/send`
// on 127.0.0.1, recording every request (parsed body and Authorization header). By default it
// accepts with 202 and an empty body, as SendGrid does; `failNext([500, 500, 500])` makes the next
// requests answer those statuses first. Point the app at it with `fake.env`.

export const SENDGRID_TEST_KEY = 'SG.test';

/** The request body @sendgrid/mail sends (the parts the tests read). */
export interface SendgridMailBody {
  from: { email: string; name?: string };
  subject?: string;
  personalizations: Array<{ to: Array<{ email: string; name?: string }>; subject?: string }>;
  content: Array<{ type: string; value: string }>;
  custom_args?: Record<string, string>;
  tracking_settings?: { click_tracking?: { enable: boolean; enable_text: boolean } };
}

export interface ReceivedMail {
  /** The status the fake answered with. */
  status: number;
  authorization: string | undefined;
  body: SendgridMailBody;
  /** The first recipient. */
  to: string;
  from: string;
  subject: string;
  text: string;
  html: string;
  /** The custom_args the app sets on every mail. */
  template: string | undefined;
  mailId: string | undefined;
  receivedAt: number;
}

export interface SendgridFake {
  url: string;
  /** Environment that makes an app send through this fake. */
  env: { SENDGRID_API_KEY: string; SENDGRID_API_URL: string };
  /** Every request, in arrival order, whatever it was answered. */
  readonly requests: ReceivedMail[];
  /** The requests answered with 202: the mails SendGrid would deliver. */
  delivered(): ReceivedMail[];
  /** The delivered mails to `email` (optionally of one template), oldest first. */
  to(email: string, template?: string): ReceivedMail[];
  /** The next requests are answered with these statuses, in order; then 202 again. */
  failNext(statuses: number[]): void;
  /** Every request is answered with `status` until `failNext`/`reset` changes it. */
  failAlways(status: number): void;
  /** Forgets the recorded requests and the planned failures. */
  reset(): void;
  /** Resolves with the delivered mails once at least `count` of them (matching the filter) arrived. */
  waitForMails(count: number, options?: { to?: string; template?: string; timeoutMs?: number }): Promise<ReceivedMail[]>;
  /** Resolves with the `count`-th (1-based) delivered mail to `email` of `template`. */
  waitFor(email: string, template: string, options?: { count?: number; timeoutMs?: number }): Promise<ReceivedMail>;
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function answer(res: ServerResponse, status: number, message: string) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ errors: [{ message, field: null, help: null }] }));
}

export async function startSendgridFake(): Promise<SendgridFake> {
  const requests: ReceivedMail[] = [];
  let planned: number[] = [];
  let always: number | undefined;
  const waiters = new Set<() => void>();

  const server: Server = createServer(async (req, res) => {
    const raw = await readBody(req);
    if (req.method !== 'POST' || req.url !== '/v3/mail/send') return answer(res, 404, 'not found');
    let body: SendgridMailBody;
    try {
      body = JSON.parse(raw) as SendgridMailBody;
    } catch {
      return answer(res, 400, 'bad json');
    }
    const status = planned.length ? planned.shift()! : (always ?? 202);
    const content = (type: string) => body.content?.find((c) => c.type === type)?.value ?? '';
    const first = body.personalizations?.[0];
    requests.push({
      status,
      authorization: req.headers.authorization,
      body,
      to: first?.to?.[0]?.email ?? '',
      from: body.from?.email ?? '',
      subject: first?.subject ?? body.subject ?? '',
      text: content('text/plain'),
      html: content('text/html'),
      template: body.custom_args?.template,
      mailId: body.custom_args?.mailId,
      receivedAt: performance.now(),
    });
    if (status === 202) {
      res.writeHead(202, { 'x-message-id': `fake-${requests.length}` });
      res.end();
    } else {
      answer(res, status, `fake failure ${status}`);
    }
    for (const wake of waiters) wake();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const url = `http://127.0.0.1:${port}`;

  const delivered = () => requests.filter((r) => r.status === 202);
  const matching = (to?: string, template?: string) =>
    delivered().filter((m) => (to === undefined || m.to === to) && (template === undefined || m.template === template));

  const waitForMails: SendgridFake['waitForMails'] = (count, { to, template, timeoutMs = 15_000 } = {}) =>
    new Promise((resolve, reject) => {
      const check = () => {
        const found = matching(to, template);
        if (found.length < count) return false;
        clearTimeout(timer);
        waiters.delete(check);
        resolve(found);
        return true;
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        const what = `${template ?? ''} mails${to ? ` to ${to}` : ''}`;
        reject(new Error(`the SendGrid fake received ${matching(to, template).length} of ${count} ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      if (!check()) waiters.add(check);
    });

  return {
    url,
    env: { SENDGRID_API_KEY: SENDGRID_TEST_KEY, SENDGRID_API_URL: url },
    requests,
    delivered,
    to: (email, template) => matching(email, template),
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
    waitForMails,
    async waitFor(email, template, { count = 1, timeoutMs } = {}) {
      return (await waitForMails(count, { to: email, template, timeoutMs }))[count - 1]!;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
