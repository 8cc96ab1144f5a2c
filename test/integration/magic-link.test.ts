import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import {
  FRONTEND_URL,
  LOGIN_WITH_MAGIC_LINK,
  MAIL_FROM,
  ME,
  REQUEST_MAGIC_LINK,
  fastQueue,
  magicLinkFor,
  magicLinkTokenIn,
  mailJobs,
  sendgridEnv,
  settledMailJobs,
} from '../helpers/passwordless.ts';
import { linkIn, startSendgridFake, type SendgridFake } from '../helpers/sendgrid-fake.ts';
import { eventually } from '../helpers/eventually.ts';
import { failuresOf, throttleRow } from '../helpers/throttle.ts';

const LOGIN = `mutation($input: LoginInput!) { login(input: $input) { token } }`;

// Magic links end to end (issue 4): requestMagicLink -> a send-mail job -> the worker composes the
// mail and sends it through the real @sendgrid/mail client to a local fake of POST /v3/mail/send
// -> the link in the mail signs in. Then the same through the dev outbox and GET /dev/outbox.
// The attacks of checklist 26-28 are in test/security/passwordless.test.ts.

let fake: SendgridFake;
let t: TestApp;
const extra: TestApp[] = [];
beforeAll(async () => {
  fake = await startSendgridFake();
  // The per-email request limit keeps its default (3/15m); the per-IP ones are raised for the whole file.
  t = await startTestApp({ env: sendgridEnv(fake, 'requestMagicLink=1000/1h:IP,3/15m:EMAIL;loginWithMagicLink=1000/15m:IP'), configure: fastQueue });
});
afterAll(async () => {
  try {
    for (const app of [t, ...extra]) await app?.close();
  } finally {
    await fake?.close();
  }
});

async function app(options: Parameters<typeof startTestApp>[0]): Promise<TestApp> {
  const started = await startTestApp({ configure: fastQueue, ...options });
  extra.push(started);
  return started;
}
const userRows = (db: TestApp['db'], email: string) => db.query(`SELECT id, "emailVerified", "passwordHash" FROM "User" WHERE email = $1`, [email]);

describe('through SendGrid', () => {
  it('two links of a new address used at once both sign in, to one account (the loser of the creation race retries)', async () => {
    const email = 'twice-new@example.com';
    const first = await magicLinkFor(t, fake, email);
    const second = await magicLinkFor(t, fake, email);
    const [a, b] = await Promise.all([t.gql(LOGIN_WITH_MAGIC_LINK, { email, token: first }), t.gql(LOGIN_WITH_MAGIC_LINK, { email, token: second })]);
    expect(a.body.errors).toBeUndefined();
    expect(b.body.errors).toBeUndefined();
    expect(a.body.data.loginWithMagicLink.user.id).toBe(b.body.data.loginWithMagicLink.user.id);
    expect(await userRows(t.db, email)).toHaveLength(1);
  });

  it('request -> the fake receives the mail with a FRONTEND_URL link -> login with its token -> me answers', async () => {
    const email = 'new-reader@example.com';
    const r = await t.gql(REQUEST_MAGIC_LINK, { email }, { headers: { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'http' } });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ data: { requestMagicLink: true } });

    const [mail] = await fake.waitForMails(1, { to: email });
    expect(mail!.authorization).toBe('Bearer SG.test');
    expect(mail!.body.from).toEqual({ name: 'Portcullis Test', email: 'auth@example.test' });
    expect(MAIL_FROM).toContain(mail!.body.from.email);
    expect(mail!.body.personalizations).toEqual([{ to: [{ email }] }]);
    expect(mail!.body.custom_args).toMatchObject({ template: 'magic-link' });
    expect(mail!.subject).toBe('Your sign-in link');
    // The link: FRONTEND_URL (never the request's host) + /auth/magic-link?email=…&token=…
    const link = linkIn(mail!.text, '/auth/magic-link');
    expect(`${link.origin}${link.pathname}`).toBe(`${FRONTEND_URL}/auth/magic-link`);
    expect([...link.searchParams.keys()].sort()).toEqual(['email', 'token']);
    expect(link.searchParams.get('email')).toBe(email);
    const token = link.searchParams.get('token')!;
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(mail!.text).not.toContain('evil.example');
    expect(mail!.html).not.toContain('evil.example');
    expect(mail!.html).toContain(link.toString().replace(/&/g, '&amp;'));
    t.rememberSecret(token);

    // No account before the link is used.
    expect(await userRows(t.db, email)).toEqual([]);
    const login = await t.gql(LOGIN_WITH_MAGIC_LINK, { email, token });
    expect(login.status).toBe(200);
    const payload = login.body.data.loginWithMagicLink;
    expect(payload.user).toMatchObject({ email, emailVerified: true, hasPassword: false });
    expect(payload.session).toMatchObject({ method: 'MAGIC_LINK', current: true });
    const me = await t.gql(ME, {}, { token: payload.token });
    expect(me.body.data.me).toEqual({ id: payload.user.id, email, emailVerified: true });
    expect(await userRows(t.db, email)).toEqual([{ id: payload.user.id, emailVerified: true, passwordHash: null }]);
    const sessions = await t.db.query(`SELECT method::text FROM "Session" WHERE "userId" = $1`, [payload.user.id]);
    expect(sessions).toEqual([{ method: 'MAGIC_LINK' }]);
  });

  it('signs an existing unverified user in to the same account and sets emailVerified', async () => {
    const email = 'unverified-ml@example.com';
    const { userId } = await t.register(email);
    expect(await userRows(t.db, email)).toMatchObject([{ emailVerified: false }]);
    const token = await magicLinkFor(t, fake, email);
    const login = await t.gql(LOGIN_WITH_MAGIC_LINK, { email: ' Unverified-ML@Example.com ', token });
    expect(login.body.data.loginWithMagicLink.user).toMatchObject({ id: userId, email, emailVerified: true });
    expect(login.body.data.loginWithMagicLink.session.method).toBe('MAGIC_LINK');
    expect(await userRows(t.db, email)).toMatchObject([{ id: userId, emailVerified: true }]);
  });

  it('mails known and unknown addresses alike; the unknown one gets its account only when the link is used', async () => {
    const known = 'known-ml@example.com';
    const unknown = 'unknown-ml@example.com';
    await t.register(known);
    const a = await t.gql(REQUEST_MAGIC_LINK, { email: known });
    const b = await t.gql(REQUEST_MAGIC_LINK, { email: unknown });
    expect(a.body).toEqual(b.body);
    expect(a.status).toBe(b.status);
    const [toKnown] = await fake.waitForMails(1, { to: known, template: 'magic-link' });
    const [toUnknown] = await fake.waitForMails(1, { to: unknown, template: 'magic-link' });
    expect(toKnown!.subject).toBe(toUnknown!.subject);
    expect(await userRows(t.db, unknown)).toEqual([]);
    const token = magicLinkTokenIn(toUnknown!.text);
    const login = await t.gql(LOGIN_WITH_MAGIC_LINK, { email: unknown, token });
    expect(login.body.data.loginWithMagicLink.user).toMatchObject({ email: unknown, emailVerified: true });
    expect(await userRows(t.db, unknown)).toHaveLength(1);
    t.rememberSecret(magicLinkTokenIn(toKnown!.text));
  });

  it('gets the owner in while failed passwords throttle the address, and clears the throttle; a wrong link does not', async () => {
    const email = 'throttled-ml@example.com';
    const { userId } = await t.register(email);
    // Verified long ago: the proof of the mailbox then keeps the password.
    await t.db.query(`UPDATE "User" SET "emailVerified" = true WHERE id = $1`, [userId]);
    const password = (p: string) => t.gql(LOGIN, { input: { email, password: p } });
    for (let i = 0; i < 5; i++) await password(`wrong password ${i}`);
    expect((await password('correct horse battery')).body.errors?.[0]?.extensions.code).toBe('RATE_LIMITED');
    const token = await magicLinkFor(t, fake, email);
    const wrong = await t.gql(LOGIN_WITH_MAGIC_LINK, { email, token: 'x'.repeat(43) });
    expect(wrong.body.errors?.[0]?.extensions.code).toBe('TOKEN_INVALID');
    expect(await failuresOf(t.db, email)).toBe(5);
    const r = await t.gql(LOGIN_WITH_MAGIC_LINK, { email, token });
    expect(r.body.data.loginWithMagicLink.user).toMatchObject({ id: userId, hasPassword: true });
    expect(await throttleRow(t.db, email)).toBeUndefined();
    expect((await password('correct horse battery')).body.data.login.token).toBeTruthy();
  });

  it('counts sign-ins by method in /metrics', async () => {
    const text = await (await fetch(`${t.url}/metrics`)).text();
    expect(text).toMatch(/^portcullis_logins_total\{method="MAGIC_LINK",result="success"\} [1-9]/m);
    expect(text).toMatch(/^portcullis_mail_sent_total\{template="magic-link",result="success"\} [1-9]/m);
  });
});

describe('requestMagicLink', () => {
  it.each([['not-an-email'], ['a@'], [''], [`${'x'.repeat(250)}@example.com`]])(
    'answers BAD_USER_INPUT for the invalid email %j and queues nothing',
    async (email) => {
      const r = await t.gql(REQUEST_MAGIC_LINK, { email });
      expect(r.body.errors?.[0]?.extensions.code).toBe('BAD_USER_INPUT');
      expect(r.status).toBe(400);
      expect(await mailJobs(t.db, email)).toEqual([]);
      expect(await mailJobs(t.db, email.trim().toLowerCase())).toEqual([]);
    },
  );

  it('the 4th request for one address within 15 minutes still answers true, but no 4th mail is queued or sent', async () => {
    const email = 'limited-ml@example.com';
    const spellings = [email, ' LIMITED-ml@example.com', 'Limited-ML@Example.com ', email];
    const answers = [];
    for (const spelling of spellings) answers.push(await t.gql(REQUEST_MAGIC_LINK, { email: spelling }));
    for (const r of answers) {
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ data: { requestMagicLink: true } });
    }
    const jobs = await settledMailJobs(t.db, email, 3);
    expect(jobs).toHaveLength(3);
    expect(jobs.every((j) => j.state === 'completed')).toBe(true);
    const mails = await fake.waitForMails(3, { to: email });
    for (const m of mails) t.rememberSecret(magicLinkTokenIn(m.text));
    // Three tokens issued, no fourth; and nothing more arrives.
    const tokens = await t.db.query(`SELECT 1 FROM "OneTimeToken" WHERE email = $1 AND purpose = 'MAGIC_LINK'`, [email]);
    expect(tokens).toHaveLength(3);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(fake.requests.filter((m) => m.to === email)).toHaveLength(3);
    expect(await mailJobs(t.db, email)).toHaveLength(3);
  });

  it('past the per-IP limit answers RATE_LIMITED (429, retryAfter) and queues nothing', async () => {
    const limited = await app({ env: sendgridEnv(fake, 'requestMagicLink=2/1h:IP,3/15m:EMAIL') });
    const first = await limited.gql(REQUEST_MAGIC_LINK, { email: 'ip-1@example.com' });
    const second = await limited.gql(REQUEST_MAGIC_LINK, { email: 'ip-2@example.com' });
    expect([first.body.data?.requestMagicLink, second.body.data?.requestMagicLink]).toEqual([true, true]);
    const third = await limited.gql(REQUEST_MAGIC_LINK, { email: 'ip-3@example.com' });
    expect(third.status).toBe(429);
    expect(third.body.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED', retryAfter: expect.any(Number) });
    expect(third.body.errors![0]!.extensions.retryAfter).toBeGreaterThan(0);
    await settledMailJobs(limited.db, 'ip-2@example.com', 1);
    expect(await mailJobs(limited.db, 'ip-3@example.com')).toEqual([]);
    for (const to of ['ip-1@example.com', 'ip-2@example.com']) {
      const [mail] = await fake.waitForMails(1, { to });
      limited.rememberSecret(magicLinkTokenIn(mail!.text));
    }
    expect(fake.requests.filter((m) => m.to === 'ip-3@example.com')).toEqual([]);
  });
});

describe('through the dev outbox (no SENDGRID_API_KEY)', () => {
  let dev: TestApp;
  beforeAll(async () => {
    dev = await app({ env: { FRONTEND_URL, MAIL_FROM } });
  });

  const outbox = async (target: TestApp) => {
    const response = await fetch(`${target.url}/dev/outbox`, { headers: { accept: 'application/json' } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('application/json');
    return ((await response.json()) as { mails: Array<Record<string, string>> }).mails;
  };

  it('GET /dev/outbox (JSON) lists the mail; its link signs in; the HTML page shows it; the log has one line without the link', async () => {
    const email = 'outbox-ml@example.com';
    const requestedAt = dev.logs.length;
    expect((await dev.gql(REQUEST_MAGIC_LINK, { email })).body).toEqual({ data: { requestMagicLink: true } });
    const mail = await eventually(async () => (await outbox(dev)).find((m) => m.to === email), 'the mail in the dev outbox', 15_000);
    expect(mail).toMatchObject({ template: 'magic-link', to: email, subject: 'Your sign-in link' });
    expect(fake.requests.filter((m) => m.to === email)).toEqual([]);
    const link = linkIn(mail.text!, '/auth/magic-link');
    expect(`${link.origin}${link.pathname}`).toBe(`${FRONTEND_URL}/auth/magic-link`);
    expect(link.searchParams.get('email')).toBe(email);
    const token = link.searchParams.get('token')!;
    dev.rememberSecret(token);
    expect(mail.html).toContain(link.toString().replace(/&/g, '&amp;'));

    const page = await fetch(`${dev.url}/dev/outbox`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.headers.get('cache-control')).toBe('no-store');
    const html = await page.text();
    expect(html).toContain('Dev outbox');
    expect(html).toContain('Your sign-in link');
    expect(html).toContain(`to ${email}`);
    expect(html).toContain(link.toString().replace(/&/g, '&amp;'));

    const lines = dev.logs.slice(requestedAt).filter((l) => l.includes('mail stored in the dev outbox'));
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ template: 'magic-link', outbox: `${dev.config.publicUrl}/dev/outbox` });
    expect(lines[0]).not.toContain(token);
    expect(lines[0]).not.toContain(email); // masked

    const login = await dev.gql(LOGIN_WITH_MAGIC_LINK, { email, token });
    expect(login.body.data.loginWithMagicLink.session.method).toBe('MAGIC_LINK');
    expect((await dev.gql(ME, {}, { token: login.body.data.loginWithMagicLink.token })).body.data.me.email).toBe(email);
  });

  it('lists the latest mails first', async () => {
    for (const email of ['first-ml@example.com', 'second-ml@example.com']) {
      await dev.gql(REQUEST_MAGIC_LINK, { email });
      await eventually(async () => (await outbox(dev)).some((m) => m.to === email), `the mail to ${email}`, 15_000);
      dev.clock.advance(1_000);
    }
    const mails = await outbox(dev);
    for (const m of mails) dev.rememberSecret(magicLinkTokenIn(m.text!));
    expect(mails.findIndex((m) => m.to === 'second-ml@example.com')).toBeLessThan(mails.findIndex((m) => m.to === 'first-ml@example.com'));
  });

  it('GET /dev/outbox is 404 with NODE_ENV=production, as HTML and as JSON', async () => {
    const production = await app({ env: { NODE_ENV: 'production', FRONTEND_URL } });
    for (const accept of ['text/html', 'application/json']) {
      const response = await fetch(`${production.url}/dev/outbox`, { headers: { accept } });
      expect(response.status).toBe(404);
      expect(await response.text()).not.toContain('Dev outbox');
    }
  });
});
