import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { MINUTE } from '../helpers/clock.ts';
import {
  FRONTEND_URL,
  LOGIN_WITH_EMAIL_CODE,
  MAIL_FROM,
  ME,
  REQUEST_EMAIL_CODE,
  emailCodeFor,
  emailCodeIn,
  fastQueue,
  mailJobs,
  sendgridEnv,
  settledMailJobs,
  wrongCode,
} from '../helpers/passwordless.ts';
import { linkIn, startSendgridFake, type SendgridFake } from '../helpers/sendgrid-fake.ts';
import { eventually } from '../helpers/eventually.ts';
import { failuresOf, throttleRow } from '../helpers/throttle.ts';

const LOGIN = `mutation($input: LoginInput!) { login(input: $input) { token } }`;

// Email codes end to end (issue 4): requestEmailCode -> a send-mail job -> the worker issues a
// 6-digit code and mails it (with a FRONTEND_URL link carrying it) through the real SendGrid
// client to a local fake -> loginWithEmailCode signs in. Then the same through the dev outbox.
// The attacks of checklist 29-30 are in test/security/passwordless.test.ts.

let fake: SendgridFake;
let t: TestApp;
const extra: TestApp[] = [];
beforeAll(async () => {
  fake = await startSendgridFake();
  // The per-email request limit keeps its default (3/15m); the per-IP ones are raised for the whole file.
  t = await startTestApp({ env: sendgridEnv(fake, 'requestEmailCode=1000/1h:IP,3/15m:EMAIL;loginWithEmailCode=1000/15m:IP'), configure: fastQueue });
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
  it('request -> the fake receives a 6-digit code and a FRONTEND_URL link -> login with the code -> me answers', async () => {
    const email = 'new-coder@example.com';
    const r = await t.gql(REQUEST_EMAIL_CODE, { email }, { headers: { 'x-forwarded-host': 'evil.example' } });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ data: { requestEmailCode: true } });

    const [mail] = await fake.waitForMails(1, { to: email });
    expect(mail!.authorization).toBe('Bearer SG.test');
    expect(mail!.body.from).toEqual({ name: 'Portcullis Test', email: 'auth@example.test' });
    expect(MAIL_FROM).toContain(mail!.body.from.email);
    expect(mail!.body.personalizations).toEqual([{ to: [{ email }] }]);
    expect(mail!.body.custom_args).toMatchObject({ template: 'email-code' });
    const code = emailCodeIn(mail!.text);
    t.rememberSecret(code);
    expect(code).toMatch(/^\d{6}$/);
    expect(mail!.subject).toBe('Your sign-in code'); // the subject is stored and shown in previews: no code in it
    const link = linkIn(mail!.text, '/auth/email-code');
    expect(`${link.origin}${link.pathname}`).toBe(`${FRONTEND_URL}/auth/email-code`);
    expect(Object.fromEntries(link.searchParams)).toEqual({ email, code });
    expect(mail!.html).toContain(code);
    expect(mail!.html).toContain(link.toString().replace(/&/g, '&amp;'));
    expect(`${mail!.text}${mail!.html}`).not.toContain('evil.example');

    expect(await userRows(t.db, email)).toEqual([]);
    const login = await t.gql(LOGIN_WITH_EMAIL_CODE, { email, code });
    expect(login.status).toBe(200);
    const payload = login.body.data.loginWithEmailCode;
    expect(payload.user).toMatchObject({ email, emailVerified: true, hasPassword: false });
    expect(payload.session).toMatchObject({ method: 'EMAIL_CODE', current: true });
    const me = await t.gql(ME, {}, { token: payload.token });
    expect(me.body.data.me).toEqual({ id: payload.user.id, email, emailVerified: true });
    expect(await userRows(t.db, email)).toEqual([{ id: payload.user.id, emailVerified: true, passwordHash: null }]);
    expect(await t.db.query(`SELECT method::text FROM "Session" WHERE "userId" = $1`, [payload.user.id])).toEqual([{ method: 'EMAIL_CODE' }]);
    // A code works once.
    const again = await t.gql(LOGIN_WITH_EMAIL_CODE, { email, code });
    expect(again.body.errors?.[0]?.extensions.code).toBe('TOKEN_INVALID');
  });

  it('signs an existing unverified user in to the same account and sets emailVerified', async () => {
    const email = 'unverified-ec@example.com';
    const { userId } = await t.register(email);
    const code = await emailCodeFor(t, fake, email);
    const login = await t.gql(LOGIN_WITH_EMAIL_CODE, { email: 'UNVERIFIED-ec@example.com', code: ` ${code} ` });
    expect(login.body.data.loginWithEmailCode.user).toMatchObject({ id: userId, emailVerified: true });
    expect(login.body.data.loginWithEmailCode.session.method).toBe('EMAIL_CODE');
    expect(await userRows(t.db, email)).toMatchObject([{ id: userId, emailVerified: true }]);
  });

  it('mails known and unknown addresses alike; the unknown one gets its account only when the code is used', async () => {
    const known = 'known-ec@example.com';
    const unknown = 'unknown-ec@example.com';
    await t.register(known);
    const a = await t.gql(REQUEST_EMAIL_CODE, { email: known });
    const b = await t.gql(REQUEST_EMAIL_CODE, { email: unknown });
    expect(a.body).toEqual(b.body);
    expect(a.status).toBe(b.status);
    const [toKnown] = await fake.waitForMails(1, { to: known, template: 'email-code' });
    const [toUnknown] = await fake.waitForMails(1, { to: unknown, template: 'email-code' });
    t.rememberSecret(emailCodeIn(toKnown!.text));
    expect(await userRows(t.db, unknown)).toEqual([]);
    const code = emailCodeIn(toUnknown!.text);
    const login = await t.gql(LOGIN_WITH_EMAIL_CODE, { email: unknown, code });
    expect(login.body.data.loginWithEmailCode.user).toMatchObject({ email: unknown, emailVerified: true });
    expect(await userRows(t.db, unknown)).toHaveLength(1);
  });

  it.each([['12345'], ['1234567'], ['abcdef'], ['']])('refuses the malformed code %j with TOKEN_INVALID and spends no try', async (code) => {
    const email = `malformed-${code.length}-${code.charCodeAt(0) || 0}@example.com`;
    const real = await emailCodeFor(t, fake, email);
    const r = await t.gql(LOGIN_WITH_EMAIL_CODE, { email, code });
    expect(r.body.errors?.[0]?.extensions).toMatchObject({ code: 'TOKEN_INVALID', http: { status: 400 } });
    const [row] = await t.db.query(`SELECT attempts FROM "OneTimeToken" WHERE email = $1 AND "consumedAt" IS NULL`, [email]);
    expect(row).toEqual({ attempts: 0 });
    t.rememberSecret(real);
  });

  it('refuses a code after its 10 minutes with TOKEN_EXPIRED (498), and takes it at 9 min 59 s', async () => {
    const early = 'early-ec@example.com';
    const late = 'late-ec@example.com';
    const earlyCode = await emailCodeFor(t, fake, early);
    const lateCode = await emailCodeFor(t, fake, late);
    t.clock.advance(10 * MINUTE - 1_000);
    expect((await t.gql(LOGIN_WITH_EMAIL_CODE, { email: early, code: earlyCode })).body.data.loginWithEmailCode.session.method).toBe('EMAIL_CODE');
    t.clock.advance(1_000);
    const r = await t.gql(LOGIN_WITH_EMAIL_CODE, { email: late, code: lateCode });
    expect(r.body.errors?.[0]?.extensions).toMatchObject({ code: 'TOKEN_EXPIRED', http: { status: 498 } });
    expect(r.status).toBe(498);
    expect(await userRows(t.db, late)).toEqual([]);
  });

  it('two requests at once leave one live code: exactly one of the two mailed codes signs in', async () => {
    for (let i = 0; i < 10; i++) {
      const email = `twice-at-once-${i}@example.com`;
      await Promise.all([t.gql(REQUEST_EMAIL_CODE, { email }), t.gql(REQUEST_EMAIL_CODE, { email })]);
      const mails = await fake.waitForMails(2, { to: email, template: 'email-code' });
      await settledMailJobs(t.db, email, 2);
      const live = await t.db.query(`SELECT 1 FROM "OneTimeToken" WHERE email = $1 AND purpose = 'EMAIL_CODE' AND "consumedAt" IS NULL`, [email]);
      expect(live).toHaveLength(1);
      const codes = mails.map((m) => emailCodeIn(m.text));
      if (codes[0] === codes[1]) continue; // one chance in a million
      const results = [];
      for (const code of codes) results.push(await t.gql(LOGIN_WITH_EMAIL_CODE, { email, code }));
      expect(results.map((r) => r.body.errors?.[0]?.extensions.code ?? r.body.data.loginWithEmailCode.session.method).sort()).toEqual([
        'EMAIL_CODE',
        'TOKEN_INVALID',
      ]);
    }
  });

  it('gets the owner in while failed passwords throttle the address, and clears the throttle; a wrong code does not', async () => {
    const email = 'throttled-ec@example.com';
    const { userId } = await t.register(email);
    // Verified long ago: the proof of the mailbox then keeps the password.
    await t.db.query(`UPDATE "User" SET "emailVerified" = true WHERE id = $1`, [userId]);
    const password = (p: string) => t.gql(LOGIN, { input: { email, password: p } });
    for (let i = 0; i < 5; i++) await password(`wrong password ${i}`);
    expect((await password('correct horse battery')).body.errors?.[0]?.extensions.code).toBe('RATE_LIMITED');
    const code = await emailCodeFor(t, fake, email);
    const wrong = await t.gql(LOGIN_WITH_EMAIL_CODE, { email, code: wrongCode(code) });
    expect(wrong.body.errors?.[0]?.extensions.code).toBe('TOKEN_INVALID');
    expect(await failuresOf(t.db, email)).toBe(5);
    const r = await t.gql(LOGIN_WITH_EMAIL_CODE, { email, code });
    expect(r.body.data.loginWithEmailCode.user).toMatchObject({ id: userId, hasPassword: true });
    expect(await throttleRow(t.db, email)).toBeUndefined();
    // The right code gave its own guess back: only the wrong one still counts against the address.
    expect([await failuresOf(t.db, email, 'email-code:hour'), await failuresOf(t.db, email, 'email-code:day')]).toEqual([1, 1]);
    expect((await password('correct horse battery')).body.data.login.token).toBeTruthy();
  });

  it('counts sign-ins by method in /metrics', async () => {
    const text = await (await fetch(`${t.url}/metrics`)).text();
    expect(text).toMatch(/^portcullis_logins_total\{method="EMAIL_CODE",result="success"\} [1-9]/m);
    expect(text).toMatch(/^portcullis_logins_total\{method="EMAIL_CODE",result="failure"\} [1-9]/m);
    expect(text).toMatch(/^portcullis_mail_sent_total\{template="email-code",result="success"\} [1-9]/m);
  });
});

describe('requestEmailCode', () => {
  it.each([['not-an-email'], ['a@'], [''], [`${'x'.repeat(250)}@example.com`]])(
    'answers BAD_USER_INPUT for the invalid email %j and queues nothing',
    async (email) => {
      const r = await t.gql(REQUEST_EMAIL_CODE, { email });
      expect(r.body.errors?.[0]?.extensions.code).toBe('BAD_USER_INPUT');
      expect(r.status).toBe(400);
      expect(await mailJobs(t.db, email)).toEqual([]);
    },
  );

  it('the 4th request for one address within 15 minutes still answers true, but no 4th code is issued or mailed', async () => {
    const email = 'limited-ec@example.com';
    const answers = [];
    for (const spelling of [email, ' LIMITED-ec@example.com', 'Limited-EC@example.com', email]) {
      answers.push(await t.gql(REQUEST_EMAIL_CODE, { email: spelling }));
    }
    for (const r of answers) expect(r.body).toEqual({ data: { requestEmailCode: true } });
    const jobs = await settledMailJobs(t.db, email, 3);
    expect(jobs).toHaveLength(3);
    const mails = await fake.waitForMails(3, { to: email });
    const codes = mails.map((m) => emailCodeIn(m.text));
    for (const c of codes) t.rememberSecret(c);
    expect(await t.db.query(`SELECT 1 FROM "OneTimeToken" WHERE email = $1 AND purpose = 'EMAIL_CODE'`, [email])).toHaveLength(3);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(fake.requests.filter((m) => m.to === email)).toHaveLength(3);
    // Each code voided the one before: one of the three is live (the last issued; two workers may
    // deliver the mails out of order), the other two are refused.
    const outcomes = [];
    for (const code of new Set(codes)) {
      const r = await t.gql(LOGIN_WITH_EMAIL_CODE, { email, code });
      outcomes.push(r.body.errors?.[0]?.extensions.code ?? r.body.data.loginWithEmailCode.session.method);
    }
    expect(outcomes.filter((o) => o === 'EMAIL_CODE')).toHaveLength(1);
    expect(outcomes.filter((o) => o !== 'EMAIL_CODE').every((o) => o === 'TOKEN_INVALID')).toBe(true);
  });

  it('past the per-IP limit answers RATE_LIMITED (429, retryAfter) and queues nothing', async () => {
    const limited = await app({ env: sendgridEnv(fake, 'requestEmailCode=2/1h:IP,3/15m:EMAIL') });
    for (const email of ['ec-ip-1@example.com', 'ec-ip-2@example.com']) {
      expect((await limited.gql(REQUEST_EMAIL_CODE, { email })).body).toEqual({ data: { requestEmailCode: true } });
    }
    const third = await limited.gql(REQUEST_EMAIL_CODE, { email: 'ec-ip-3@example.com' });
    expect(third.status).toBe(429);
    expect(third.body.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED', retryAfter: expect.any(Number) });
    for (const to of ['ec-ip-1@example.com', 'ec-ip-2@example.com']) {
      const [mail] = await fake.waitForMails(1, { to });
      limited.rememberSecret(emailCodeIn(mail!.text));
    }
    expect(await mailJobs(limited.db, 'ec-ip-3@example.com')).toEqual([]);
    expect(fake.requests.filter((m) => m.to === 'ec-ip-3@example.com')).toEqual([]);
  });
});

describe('through the dev outbox (no SENDGRID_API_KEY)', () => {
  it('GET /dev/outbox (JSON) lists the mail; its code signs in; the HTML page shows it; the log line holds no code', async () => {
    const dev = await app({ env: { FRONTEND_URL, MAIL_FROM } });
    const email = 'outbox-ec@example.com';
    const requestedAt = dev.logs.length;
    expect((await dev.gql(REQUEST_EMAIL_CODE, { email })).body).toEqual({ data: { requestEmailCode: true } });
    const mail = await eventually(
      async () => {
        const response = await fetch(`${dev.url}/dev/outbox`, { headers: { accept: 'application/json' } });
        expect(response.status).toBe(200);
        const { mails } = (await response.json()) as { mails: Array<Record<string, string>> };
        return mails.find((m) => m.to === email);
      },
      'the mail in the dev outbox',
      15_000,
    );
    expect(mail).toMatchObject({ template: 'email-code', to: email });
    const code = emailCodeIn(mail.text!);
    dev.rememberSecret(code);
    const link = linkIn(mail.text!, '/auth/email-code');
    expect(`${link.origin}${link.pathname}`).toBe(`${FRONTEND_URL}/auth/email-code`);
    expect(Object.fromEntries(link.searchParams)).toEqual({ email, code });

    const page = await fetch(`${dev.url}/dev/outbox`);
    expect(page.headers.get('content-type')).toContain('text/html');
    const html = await page.text();
    expect(html).toContain(`to ${email}`);
    expect(html).toContain(`Your sign-in code is ${code}`);

    const lines = dev.logs.slice(requestedAt).filter((l) => l.includes('mail stored in the dev outbox'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toMatch(new RegExp(`(?<!\\d)${code}(?!\\d)`));

    const login = await dev.gql(LOGIN_WITH_EMAIL_CODE, { email, code });
    expect(login.body.data.loginWithEmailCode.session.method).toBe('EMAIL_CODE');
    expect((await dev.gql(ME, {}, { token: login.body.data.loginWithEmailCode.token })).body.data.me.email).toBe(email);
  });

  it('GET /dev/outbox is 404 with NODE_ENV=production', async () => {
    const production = await app({ env: { NODE_ENV: 'production' } });
    const response = await fetch(`${production.url}/dev/outbox`, { headers: { accept: 'application/json' } });
    expect(response.status).toBe(404);
  });
});
