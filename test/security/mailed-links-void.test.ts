import { afterAll, beforeAll, expect, it } from 'vitest';
import type { TestApp } from '../helpers/app.ts';
import { emailCodeIn, magicLinkTokenIn, type SendgridFake } from '../helpers/sendgrid-fake.ts';
import { LOGIN_WITH_EMAIL_CODE, LOGIN_WITH_MAGIC_LINK, REQUEST_EMAIL_CODE, REQUEST_MAGIC_LINK } from '../helpers/passwordless.ts';
import { CHANGE, REQUEST_RESET, RESET, expectCode, startMailingApp, tokenIn } from '../helpers/recovery.ts';

// SECURITY-CHECKLIST.md item 56: "`changePassword`, `resetPassword` and `revokeOtherSessions`
// void the user's outstanding reset and magic-link tokens." Email codes sign in too, so they go
// the same way. A link mailed before "I changed my password" must not open the account after it.

const PASSWORD = 'first password 1';
let mail: SendgridFake;
let t: TestApp;
let stop: () => Promise<void>;
beforeAll(async () => {
  ({ t, mail, close: stop } = await startMailingApp());
});
afterAll(() => stop?.());

interface Outstanding {
  reset: string;
  magicLink: string;
  code: string;
}

/** Asks for a reset link, a magic link and an email code, and reads each out of its mail. */
async function mailedSecrets(email: string): Promise<Outstanding> {
  const count = (template: string) => mail.to(email, template).length + 1;
  const [resetCount, linkCount, codeCount] = [count('password-reset'), count('magic-link'), count('email-code')];
  await t.gql(REQUEST_RESET, { input: { email } });
  await t.gql(REQUEST_MAGIC_LINK, { email });
  await t.gql(REQUEST_EMAIL_CODE, { email });
  const reset = tokenIn(t, await mail.waitFor(email, 'password-reset', { count: resetCount }), '/auth/reset-password');
  const magicLink = magicLinkTokenIn((await mail.waitFor(email, 'magic-link', { count: linkCount })).text);
  const code = emailCodeIn((await mail.waitFor(email, 'email-code', { count: codeCount })).text);
  for (const secret of [magicLink, code]) t.rememberSecret(secret);
  return { reset, magicLink, code };
}

/** None of them works any more, and nothing was opened or changed by trying. */
async function expectAllVoid(email: string, secrets: Outstanding, passwordNow: string) {
  const sessionsBefore = await sessionCount(email);
  expectCode(await t.gql(RESET, { input: { token: secrets.reset, newPassword: 'attacker password 1' } }), 'TOKEN_INVALID');
  expectCode(await t.gql(LOGIN_WITH_MAGIC_LINK, { email, token: secrets.magicLink }), 'TOKEN_INVALID');
  expectCode(await t.gql(LOGIN_WITH_EMAIL_CODE, { email, code: secrets.code }), 'TOKEN_INVALID');
  expect(await sessionCount(email)).toBe(sessionsBefore);
  const login = await t.gql(`mutation($i: LoginInput!) { login(input: $i) { token } }`, { i: { email, password: passwordNow } });
  expect(login.body.data?.login.token).toBeTruthy();
}

const sessionCount = async (email: string) =>
  (await t.db.query(`SELECT count(*)::int AS n FROM "Session" s JOIN "User" u ON u.id = s."userId" WHERE u.email = $1`, [email]))[0].n;
const liveSecrets = async (email: string) =>
  (await t.db.query(`SELECT purpose::text FROM "OneTimeToken" WHERE email = $1 AND "consumedAt" IS NULL ORDER BY 1`, [email])).map(
    (r: { purpose: string }) => r.purpose,
  );

it('56. changePassword voids the outstanding reset link, magic link and email code', async () => {
  const email = 'change-56@example.com';
  const user = await t.register(email, PASSWORD);
  const secrets = await mailedSecrets(email);
  expect(await liveSecrets(email)).toEqual(expect.arrayContaining(['EMAIL_CODE', 'MAGIC_LINK', 'PASSWORD_RESET']));
  const changed = await t.gql(CHANGE, { input: { currentPassword: PASSWORD, newPassword: 'second password 2' } }, { token: user.token });
  expect(changed.body).toEqual({ data: { changePassword: true } });
  expect(await liveSecrets(email)).not.toEqual(expect.arrayContaining(['MAGIC_LINK']));
  await expectAllVoid(email, secrets, 'second password 2');
});

it('56. revokeOtherSessions voids them too', async () => {
  const email = 'revoke-56@example.com';
  const user = await t.register(email, PASSWORD);
  const secrets = await mailedSecrets(email);
  const r = await t.gql(`mutation { revokeOtherSessions }`, {}, { token: user.token });
  expect(r.body.data).toEqual({ revokeOtherSessions: 0 });
  await expectAllVoid(email, secrets, PASSWORD);
});

it('56. resetPassword voids every other link and code mailed before it', async () => {
  const email = 'reset-56@example.com';
  await t.register(email, PASSWORD);
  const older = await mailedSecrets(email);
  const used = await mailedSecrets(email); // a newer reset link (the older one is void by design)
  const done = await t.gql(RESET, { input: { token: used.reset, newPassword: 'reset password 3' } });
  expect(done.body).toEqual({ data: { resetPassword: true } });
  await expectAllVoid(email, { ...used, reset: used.reset }, 'reset password 3');
  expectCode(await t.gql(LOGIN_WITH_MAGIC_LINK, { email, token: older.magicLink }), 'TOKEN_INVALID');
});
