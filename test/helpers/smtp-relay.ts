import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

// A local SMTP relay (the `smtp-server` package) on 127.0.0.1 that records every mail it accepts.
// Options: `secure` (TLS from the first byte, smtps://; the package's own self-signed
// certificate), `auth` (a user and password the relay requires), `delayMs` (answers the end of a
// mail that late). `failNext(n)` refuses the next n mails with a 451 (a temporary failure).

export interface RelayedMail {
  from: string;
  to: string[];
  subject: string;
  text: string;
  html: string;
  headers: Record<string, string>;
  /** The user that authenticated, if any. */
  user?: string;
  /** Whether the conversation ran over TLS (smtps:// or STARTTLS). */
  secure: boolean;
  receivedAt: number;
}

export interface SmtpRelay {
  /** smtp:// or smtps:// URL, with the credentials when `auth` is set. */
  url: string;
  readonly mails: RelayedMail[];
  /** Mail transactions refused so far (failNext). */
  readonly refused: number;
  failNext(count: number): void;
  close(): Promise<void>;
}

export async function startSmtpRelay(options: { secure?: boolean; auth?: { user: string; pass: string }; delayMs?: number } = {}): Promise<SmtpRelay> {
  const mails: RelayedMail[] = [];
  let failures = 0;
  let refused = 0;
  const server = new SMTPServer({
    secure: options.secure ?? false,
    authOptional: !options.auth,
    disabledCommands: options.auth ? [] : ['AUTH'],
    allowInsecureAuth: true,
    logger: false,
    onAuth(auth, _session, callback) {
      const ok = options.auth && auth.username === options.auth.user && auth.password === options.auth.pass;
      callback(ok ? null : new Error('Invalid credentials'), ok ? { user: auth.username } : undefined);
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const finish = () => {
          if (failures > 0) {
            failures--;
            refused++;
            const err = Object.assign(new Error('Try again later'), { responseCode: 451 });
            return callback(err);
          }
          mails.push({
            ...parseMail(Buffer.concat(chunks).toString('utf8')),
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            user: session.user as string | undefined,
            secure: session.secure,
            receivedAt: Date.now(),
          });
          callback();
        };
        if (options.delayMs) setTimeout(finish, options.delayMs);
        else finish();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.server.address() as AddressInfo;
  const credentials = options.auth ? `${encodeURIComponent(options.auth.user)}:${encodeURIComponent(options.auth.pass)}@` : '';
  // The package's certificate is self-signed: the test trusts it explicitly.
  const url = options.secure
    ? `smtps://${credentials}127.0.0.1:${port}?tls.rejectUnauthorized=false`
    : `smtp://${credentials}127.0.0.1:${port}?tls.rejectUnauthorized=false`;
  return {
    url,
    mails,
    get refused() {
      return refused;
    },
    failNext(count) {
      failures = count;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Just enough MIME for what nodemailer writes: headers, and a text/plain and a text/html part. */
function parseMail(raw: string): Pick<RelayedMail, 'subject' | 'text' | 'html' | 'headers'> {
  const { headers, body } = splitEntity(raw);
  const parts: Array<{ headers: Record<string, string>; body: string }> = [];
  const boundary = /boundary="?([^";]+)"?/.exec(headers['content-type'] ?? '')?.[1];
  if (boundary) {
    for (const chunk of body.split(`--${boundary}`).slice(1, -1)) parts.push(splitEntity(chunk.replace(/^\r?\n/, '')));
  } else {
    parts.push({ headers, body });
  }
  const decoded = (type: string) => {
    const part = parts.find((p) => (p.headers['content-type'] ?? 'text/plain').startsWith(type));
    return part ? decode(part.body, part.headers['content-transfer-encoding']) : '';
  };
  return { headers, subject: headers.subject ?? '', text: decoded('text/plain'), html: decoded('text/html') };
}

function splitEntity(raw: string): { headers: Record<string, string>; body: string } {
  const at = raw.search(/\r?\n\r?\n/);
  const head = at < 0 ? raw : raw.slice(0, at);
  const body = at < 0 ? '' : raw.slice(at).replace(/^\r?\n\r?\n/, '');
  const headers: Record<string, string> = {};
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { headers, body };
}

function decode(body: string, encoding = '7bit'): string {
  const text = body.replace(/\r?\n$/, '');
  if (/quoted-printable/i.test(encoding)) {
    const bytes = text.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, hex: string) => `%${hex}`);
    return decodeURIComponent(bytes.replace(/%(?![0-9A-F]{2})/gi, '%25'));
  }
  if (/base64/i.test(encoding)) return Buffer.from(text, 'base64').toString('utf8');
  return text.replace(/\r\n/g, '\n');
}
