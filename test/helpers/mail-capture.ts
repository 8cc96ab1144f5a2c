import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

// A minimal local stand-in for SendGrid's v3 API: POST /v3/mail/send answers 202 and records the
// mail, so the app sends through its real SendGrid client (SENDGRID_API_KEY + SENDGRID_API_URL,
// see `env`). Tests wait for mails and read the links out of them.

export interface CapturedMail {
  to: string;
  from: string;
  subject: string;
  text: string;
  html: string;
  /** customArgs the app sets on every mail. */
  template: string | undefined;
  mailId: string | undefined;
  authorization: string | undefined;
  /** The raw request body, as SendGrid would receive it. */
  body: any;
}

export interface MailCapture {
  url: string;
  /** Environment that makes an app send through this fake. */
  env: { SENDGRID_API_KEY: string; SENDGRID_API_URL: string };
  mails: CapturedMail[];
  /** Mails to `email` (optionally of one template), oldest first. */
  to(email: string, template?: string): CapturedMail[];
  /** Resolves with the `count`-th mail (1-based) to `email` of `template`, waiting up to `ms`. */
  waitFor(email: string, template: string, options?: { count?: number; ms?: number }): Promise<CapturedMail>;
  close(): Promise<void>;
}

export const SENDGRID_TEST_KEY = 'SG.test';

const readBody = (req: IncomingMessage) =>
  new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });

export async function startMailCapture(): Promise<MailCapture> {
  const mails: CapturedMail[] = [];
  const server = createServer(async (req, res) => {
    const raw = await readBody(req);
    if (req.method !== 'POST' || req.url !== '/v3/mail/send') {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"message":"not found"}]}');
      return;
    }
    let body: any;
    try {
      body = JSON.parse(raw);
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"errors":[{"message":"bad json"}]}');
      return;
    }
    const content = (type: string) => (body.content ?? []).find((c: any) => c.type === type)?.value ?? '';
    for (const personalization of body.personalizations ?? []) {
      for (const recipient of personalization.to ?? []) {
        mails.push({
          to: recipient.email,
          from: body.from?.email,
          subject: personalization.subject ?? body.subject,
          text: content('text/plain'),
          html: content('text/html'),
          template: body.custom_args?.template,
          mailId: body.custom_args?.mailId,
          authorization: req.headers.authorization,
          body,
        });
      }
    }
    res.writeHead(202).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const to = (email: string, template?: string) => mails.filter((m) => m.to === email && (!template || m.template === template));

  return {
    url,
    env: { SENDGRID_API_KEY: SENDGRID_TEST_KEY, SENDGRID_API_URL: url },
    mails,
    to,
    async waitFor(email, template, { count = 1, ms = 10_000 } = {}) {
      const deadline = Date.now() + ms;
      while (to(email, template).length < count) {
        if (Date.now() > deadline) {
          throw new Error(`timed out waiting for ${template} mail #${count} to ${email} (got ${to(email, template).length})`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      return to(email, template)[count - 1]!;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The one link in `mail`'s text that starts with `prefix`. */
export function linkIn(mail: CapturedMail, prefix: string): URL {
  const found = mail.text.split(/\s+/).filter((word) => word.startsWith(prefix));
  if (found.length !== 1) throw new Error(`expected one link starting with ${prefix} in "${mail.subject}", found ${found.length}`);
  return new URL(found[0]!);
}
