import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { DAY, HOUR, MINUTE } from '../helpers/clock.ts';
import { startSendgridFake, type SendgridFake } from '../helpers/sendgrid-fake.ts';
import { eventually } from '../helpers/eventually.ts';
import {
  CHANGE,
  LOGIN,
  ME,
  REQUEST_RESET,
  REQUEST_VERIFICATION,
  RESET,
  VERIFY,
  expectCode,
  expectDead,
  fastMail,
  holdAfter,
  jobsDone,
  lockWaits,
  sessionsOf,
  tokenIn,
  tokenRow,
  tokenRowsOf,
  unlimitedRecovery,
  userRow,
} from '../helpers/recovery.ts';
import { mailJobs } from '../helpers/passwordless.ts';

// Issue 5: password recovery, email verification and the password-changed notice, end to end
// through the app's real SendGrid client and a local SendGrid stand-in. The checklist lines
// (19-25) are in test/security/recovery.test.ts; a reset racing a sign-in in recovery-race.test.ts.
// Tokens read from mails are remembered as secrets: close() fails the file if a log line holds one.

const FRONTEND = 'https://frontend.example.com/app';
const OLD = 'old password 1';
const NEW = 'new password 2';
const REGISTER = `mutation($input: RegisterInput!) { register(input: $input) { token user { id emailVerified hasPassword } session { id } } }`;

let mail: SendgridFake;
let t: TestApp;
beforeAll(async () => {
  mail = await startSendgridFake();
  t = await startTestApp({ env: { ...mail.env, FRONTEND_URL: FRONTEND, RATE_LIMITS: unlimitedRecovery }, configure: fastMail });
});
afterAll(async () => {
  t.app.server.closeAllConnections();
  try {
    await t.close();
  } finally {
    await mail.close();
  }
});

const login = (email: string, password: string) => t.gql(LOGIN, { input: { email, password } });
async function signIn(email: string, password: string): Promise<string> {
  const r = await login(email, password);
  expect(r.body.data?.login?.token, JSON.stringify(r.body)).toBeTruthy();
  return r.body.data.login.token;
}
const requestReset = (email: string) => t.gql(REQUEST_RESET, { input: { email } });
/** Requests a reset for `email` and returns the token of the `count`-th reset mail. */
async function resetToken(email: string, count = 1): Promise<string> {
  expect((await requestReset(email)).body).toEqual({ data: { requestPasswordReset: true } });
  return tokenIn(t, await mail.waitFor(email, 'password-reset', { count }), '/auth/reset-password');
}
const reset = (token: string, newPassword: string) => t.gql(RESET, { input: { token, newPassword } });
const me = async (token: string) => (await t.gql(ME, {}, { token })).body.data?.me;
const sessionCount = async (userId: string) => (await sessionsOf(t, userId)).length;

describe('password recovery', () => {
  it('full flow through SendGrid: request -> mail -> reset -> old password fails, new works -> every earlier session UNAUTHENTICATED -> password-changed mail', async () => {
    const email = 'reset-flow@example.com';
    const user = await t.register(email, OLD);
    const others = [await signIn(email, OLD), await signIn(email, OLD)];

    // Addresses are trimmed and compared case-insensitively.
    expect((await requestReset('  Reset-Flow@Example.COM ')).body).toEqual({ data: { requestPasswordReset: true } });
    const sent = await mail.waitFor(email, 'password-reset');
    expect(sent).toMatchObject({ subject: 'Reset your password', authorization: 'Bearer SG.test', template: 'password-reset' });
    expect(sent.body.tracking_settings?.click_tracking).toEqual({ enable: false, enable_text: false });
    const token = tokenIn(t, sent, '/auth/reset-password');
    expect(sent.text).toContain(`${FRONTEND}/auth/reset-password?token=${token}`);
    // Only the SHA-256 of the token is stored; 15 minutes, bound to the user and its address.
    const row = await tokenRow(t, token);
    expect(row).toMatchObject({ purpose: 'PASSWORD_RESET', email, userId: user.userId, consumedAt: null });
    expect(row!.expiresAt).toEqual(new Date(t.clock.now().getTime() + 15 * MINUTE));
    expect(await t.db.query(`SELECT 1 FROM "OneTimeToken" WHERE "tokenHash" = $1`, [token])).toEqual([]);
    // Nothing signed in yet: the request changed nothing.
    expect(await me(user.token)).toMatchObject({ id: user.userId });

    const before = (await userRow(t, email))!.passwordHash;
    const sessionsBefore = await sessionCount(user.userId);
    const r = await reset(token, NEW);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ data: { resetPassword: true } });
    // It does not sign in: no new session.
    expect(await sessionCount(user.userId)).toBe(sessionsBefore);
    expect((await userRow(t, email))!.passwordHash).not.toBe(before);

    expectCode(await login(email, OLD), 'UNAUTHENTICATED');
    const fresh = await signIn(email, NEW);
    expect(await me(fresh)).toMatchObject({ id: user.userId, hasPassword: true });

    for (const dead of [user.token, ...others]) await expectDead(t, dead);
    const rows = await sessionsOf(t, user.userId);
    expect(rows).toHaveLength(sessionsBefore + 1);
    expect(rows.filter((s) => s.revokeReason === 'PASSWORD_RESET')).toHaveLength(sessionsBefore);
    expect(rows.filter((s) => s.revokedAt === null)).toHaveLength(1); // the sign-in with the new password

    const notice = await mail.waitFor(email, 'password-changed');
    expect(notice.subject).toBe('Your password was changed');
    expect(notice.text).toContain(`${FRONTEND}/auth/forgot-password`);
    expect(notice.text).not.toContain(token);
    // Used: the link does not work twice.
    expectCode(await reset(token, 'another password 3'), 'TOKEN_INVALID');
    expect((await tokenRow(t, token))!.consumedAt).toEqual(t.clock.now());
  });

  it('lets a passwordless account set its first password', async () => {
    const email = 'reset-passwordless@example.com';
    const registered = await t.gql(REGISTER, { input: { email } });
    const { token: sessionToken, user } = registered.body.data.register;
    expect(user.hasPassword).toBe(false);
    expectCode(await login(email, NEW), 'UNAUTHENTICATED');

    expect(await reset(await resetToken(email), NEW)).toMatchObject({ body: { data: { resetPassword: true } } });
    expect(await me(await signIn(email, NEW))).toMatchObject({ id: user.id, hasPassword: true });
    await expectDead(t, sessionToken);
    await mail.waitFor(email, 'password-changed');
  });

  it('refuses a weak password with BAD_USER_INPUT and leaves the token usable', async () => {
    const email = 'reset-weak@example.com';
    const user = await t.register(email, OLD);
    const token = await resetToken(email);
    const before = (await userRow(t, email))!.passwordHash;

    const weak = await reset(token, 'short');
    expect(weak.status).toBe(400);
    expectCode(weak, 'BAD_USER_INPUT');
    expect((await userRow(t, email))!.passwordHash).toBe(before);
    expect((await tokenRow(t, token))!.consumedAt).toBeNull();
    expect(await me(user.token)).toMatchObject({ id: user.userId });
    expect(await mailJobs(t.db, email, 'password-changed')).toEqual([]);

    expect((await reset(token, NEW)).body).toEqual({ data: { resetPassword: true } });
    await signIn(email, NEW);
    await expectDead(t, user.token);
  });
});

describe('changePassword', () => {
  it('queues the password-changed mail (checklist 17, the mail part) and revokes the other sessions', async () => {
    const email = 'change-mail@example.com';
    const user = await t.register(email, OLD);
    const other = await signIn(email, OLD);

    const refused = await t.gql(CHANGE, { input: { currentPassword: 'wrong password', newPassword: NEW } }, { token: user.token });
    expectCode(refused, 'BAD_USER_INPUT');
    expect(await mailJobs(t.db, email, 'password-changed')).toEqual([]);

    const r = await t.gql(CHANGE, { input: { currentPassword: OLD, newPassword: NEW } }, { token: user.token });
    expect(r.body).toEqual({ data: { changePassword: true } });
    expect(await mailJobs(t.db, email, 'password-changed')).toHaveLength(1);
    const notice = await mail.waitFor(email, 'password-changed');
    expect(notice).toMatchObject({ subject: 'Your password was changed', authorization: 'Bearer SG.test' });
    expect(notice.text).toContain(`${FRONTEND}/auth/forgot-password`);
    await expectDead(t, other);
    expect(await me(user.token)).toMatchObject({ id: user.userId });
    const rows = await sessionsOf(t, user.userId);
    expect(rows.filter((s) => s.revokeReason === 'PASSWORD_CHANGED')).toHaveLength(1);
  });

  it('lets a passwordless user set a first password without currentPassword, and mails the notice', async () => {
    const email = 'change-first@example.com';
    const registered = await t.gql(REGISTER, { input: { email } });
    const { token } = registered.body.data.register;
    expect((await t.gql(CHANGE, { input: { newPassword: NEW } }, { token })).body).toEqual({ data: { changePassword: true } });
    await mail.waitFor(email, 'password-changed');
    expect(await me(await signIn(email, NEW))).toMatchObject({ hasPassword: true });
  });
});

describe('email verification', () => {
  it('register -> mail -> verifyEmail -> me.emailVerified true; the used token then gives TOKEN_INVALID', async () => {
    const email = 'verify-flow@example.com';
    const user = await t.register(email, OLD);
    expect(await me(user.token)).toMatchObject({ emailVerified: false });

    const sent = await mail.waitFor(email, 'email-verification');
    expect(sent).toMatchObject({ subject: 'Confirm your email address', authorization: 'Bearer SG.test' });
    const token = tokenIn(t, sent, '/auth/verify-email');
    const row = await tokenRow(t, token);
    expect(row).toMatchObject({ purpose: 'EMAIL_VERIFICATION', email, userId: user.userId, consumedAt: null });
    expect(row!.expiresAt).toEqual(new Date(t.clock.now().getTime() + DAY));

    // Only from a session of the account it was mailed to: anonymously UNAUTHENTICATED, from
    // another account TOKEN_INVALID, and neither spends the token.
    const anonymous = await t.gql(VERIFY, { input: { token } });
    expect(anonymous.status).toBe(401);
    expectCode(anonymous, 'UNAUTHENTICATED');
    const stranger = await t.register('verify-stranger@example.com', OLD);
    expectCode(await t.gql(VERIFY, { input: { token } }, { token: stranger.token }), 'TOKEN_INVALID');
    expect((await tokenRow(t, token))!.consumedAt).toBeNull();
    expect(await me(stranger.token)).toMatchObject({ emailVerified: false });
    const verified = await t.gql(VERIFY, { input: { token } }, { token: user.token });
    expect(verified.body).toEqual({ data: { verifyEmail: { id: user.userId, email, emailVerified: true } } });
    expect(await me(user.token)).toMatchObject({ emailVerified: true });
    expect((await userRow(t, email))!.emailVerified).toBe(true);

    const again = await t.gql(VERIFY, { input: { token } }, { token: user.token });
    expectCode(again, 'TOKEN_INVALID');
    expectCode(await t.gql(VERIFY, { input: { token: 'x'.repeat(43) } }, { token: user.token }), 'TOKEN_INVALID');
    // A reset token is not a verification token.
    expectCode(await t.gql(VERIFY, { input: { token: await resetToken(email) } }, { token: user.token }), 'TOKEN_INVALID');
  });

  it('requestEmailVerification when already verified sends nothing', async () => {
    const email = 'verify-twice@example.com';
    const user = await t.register(email, OLD);
    await t.gql(VERIFY, { input: { token: tokenIn(t, await mail.waitFor(email, 'email-verification'), '/auth/verify-email') } }, { token: user.token });
    expect(await me(user.token)).toMatchObject({ emailVerified: true });

    const r = await t.gql(REQUEST_VERIFICATION, {}, { token: user.token });
    expect(r.body).toEqual({ data: { requestEmailVerification: true } });
    // Nothing queued: only the registration's mail exists, and it is the only one delivered.
    expect(await mailJobs(t.db, email, 'email-verification')).toHaveLength(1);
    await jobsDone(t, email);
    expect(mail.to(email, 'email-verification')).toHaveLength(1);
  });

  it('requestEmailVerification for an unverified user mails a new link that voids the older one', async () => {
    const email = 'verify-again@example.com';
    const user = await t.register(email, OLD);
    const first = tokenIn(t, await mail.waitFor(email, 'email-verification'), '/auth/verify-email');
    expect((await t.gql(REQUEST_VERIFICATION, {}, { token: user.token })).body).toEqual({ data: { requestEmailVerification: true } });
    const second = tokenIn(t, await mail.waitFor(email, 'email-verification', { count: 2 }), '/auth/verify-email');
    expect(second).not.toBe(first);
    expectCode(await t.gql(VERIFY, { input: { token: first } }, { token: user.token }), 'TOKEN_INVALID');
    expect(await me(user.token)).toMatchObject({ emailVerified: false });
    expect((await t.gql(VERIFY, { input: { token: second } }, { token: user.token })).body.data.verifyEmail.emailVerified).toBe(true);
  });

  it('two verification mails composed side by side: only the one composed last works', async () => {
    const email = 'verify-side-by-side@example.com';
    // The registration's mail is held inside its transaction, just after issuing its token,
    // while the mail requested next is picked up by the worker's other slot.
    const hold = holdAfter(t.app.services.tokens, 'issue');
    let held: string | undefined;
    let user!: { token: string };
    try {
      user = await t.register(email, OLD);
      held = (await hold.reached) as string;
      t.rememberSecret(held);
      expect((await t.gql(REQUEST_VERIFICATION, {}, { token: user.token })).body).toEqual({ data: { requestEmailVerification: true } });
      await eventually(async () => (await lockWaits(t)) > 0 || mail.to(email).length > 0, 'the second mail to be composed');
      hold.release();
    } finally {
      hold.release();
      hold.restore();
    }
    await mail.waitFor(email, 'email-verification', { count: 2 });
    const pair = mail.to(email, 'email-verification').map((m) => tokenIn(t, m, '/auth/verify-email'));
    expect(pair).toContain(held);
    expect((await tokenRowsOf(t, email, 'EMAIL_VERIFICATION')).filter((row) => row.consumedAt === null)).toHaveLength(1);
    const newer = pair.find((token) => token !== held)!;
    expectCode(await t.gql(VERIFY, { input: { token: held! } }, { token: user.token }), 'TOKEN_INVALID');
    expect((await t.gql(VERIFY, { input: { token: newer } }, { token: user.token })).body.data.verifyEmail.emailVerified).toBe(true);
  });

  it('anonymous requestEmailVerification -> UNAUTHENTICATED; nothing queued', async () => {
    const jobs = (await t.db.query(`SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'send-mail'`))[0].n;
    const r = await t.gql(REQUEST_VERIFICATION);
    expect(r.status).toBe(401);
    expectCode(r, 'UNAUTHENTICATED');
    expect((await t.db.query(`SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'send-mail'`))[0].n).toBe(jobs);
  });

  it('an expired token (fake clock past 24 h) -> TOKEN_EXPIRED; the address stays unverified', async () => {
    const email = 'verify-late@example.com';
    const user = await t.register(email, OLD);
    const token = tokenIn(t, await mail.waitFor(email, 'email-verification'), '/auth/verify-email');
    t.clock.advance(DAY + 1000);
    const r = await t.gql(VERIFY, { input: { token } }, { token: user.token });
    expectCode(r, 'TOKEN_EXPIRED');
    expect(await me(user.token)).toMatchObject({ emailVerified: false });
    expect((await tokenRow(t, token))!.consumedAt).toBeNull();
    // Still expired on a second try (not turned into TOKEN_INVALID by the first).
    expectCode(await t.gql(VERIFY, { input: { token } }, { token: user.token }), 'TOKEN_EXPIRED');
  });

  it('a token just inside its 24 hours still works', async () => {
    const email = 'verify-in-time@example.com';
    const user = await t.register(email, OLD);
    const token = tokenIn(t, await mail.waitFor(email, 'email-verification'), '/auth/verify-email');
    t.clock.advance(DAY - HOUR);
    expect((await t.gql(VERIFY, { input: { token } }, { token: user.token })).body.data.verifyEmail).toMatchObject({ id: user.userId, emailVerified: true });
  });
});
