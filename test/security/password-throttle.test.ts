import { afterAll, beforeAll, expect, it } from 'vitest';
import { hashToken } from '../../src/platform/crypto.ts';
import type { GqlResult, TestApp } from '../helpers/app.ts';
import { emailCodeIn, magicLinkTokenIn, type SendgridFake } from '../helpers/sendgrid-fake.ts';
import { LOGIN_WITH_EMAIL_CODE, LOGIN_WITH_MAGIC_LINK, REQUEST_EMAIL_CODE, REQUEST_MAGIC_LINK } from '../helpers/passwordless.ts';
import { LOGIN, REQUEST_RESET, RESET, expectCode, startMailingApp, tokenIn } from '../helpers/recovery.ts';

// SECURITY-CHECKLIST.md items 14 and 15 as the story of an attacker who tries to lock an owner
// out: failed passwords throttle the address (known or not, the same answer), they never lock the
// account, and a proof of the mailbox always gets the owner in and clears the throttle.

const PASSWORD = 'owner password 1';
let mail: SendgridFake;
let t: TestApp;
let stop: () => Promise<void>;
beforeAll(async () => {
  ({ t, mail, close: stop } = await startMailingApp({ TRUST_PROXY: '127.0.0.1' }));
});
afterAll(() => stop?.());

let ip = 0;
/** A password attempt from a new client address each time (behind the trusted proxy). */
const login = (email: string, password: string) => t.gql(LOGIN, { input: { email, password } }, { headers: { 'x-forwarded-for': `203.0.113.${++ip % 250}` } });
const failures = async (email: string) =>
  (await t.db.query(`SELECT failures FROM "Throttle" WHERE scope = 'password' AND subject = $1`, [hashToken(email)]))[0]?.failures ?? 0;
const lockOf = async (email: string) => (await t.db.query(`SELECT "lockedUntil", "lockReason" FROM "User" WHERE email = $1`, [email]))[0];
const refusal = (r: GqlResult) => ({
  status: r.status,
  code: r.body.errors?.[0]?.extensions.code,
  message: r.body.errors?.[0]?.message,
  retryAfter: r.body.errors?.[0]?.extensions.retryAfter,
});
const signedIn = (r: GqlResult) => Boolean(r.body.data?.login?.token);

/** An owner who registered and verified the address long ago (a proof of the mailbox then keeps the password). */
async function verifiedOwner(email: string) {
  const { userId } = await t.register(email, PASSWORD);
  await t.db.query(`UPDATE "User" SET "emailVerified" = true WHERE id = $1`, [userId]);
}

/** The attacker's part: five wrong passwords, each from another address. */
async function attack(email: string) {
  for (let i = 0; i < 5; i++) expectCode(await login(email, `guess number ${i}`), 'UNAUTHENTICATED');
}

it('14. wrong passwords for one address from ten client addresses all count against that address', async () => {
  const email = 'owner-14@example.com';
  await t.register(email, PASSWORD);
  await attack(email);
  expect(await failures(email)).toBe(5);
  t.clock.advance(30_000);
  expectCode(await login(email, 'guess number 6'), 'UNAUTHENTICATED');
  expect(await failures(email)).toBe(6);
  const next = await login(email, PASSWORD);
  expect(refusal(next)).toMatchObject({ status: 429, code: 'RATE_LIMITED', retryAfter: 60 });
});

it('15. past the threshold the right password is RATE_LIMITED exactly like an unknown address, never LOCKED, and works after retryAfter', async () => {
  const owner = 'owner-15@example.com';
  const nobody = 'nobody-15@example.com';
  await t.register(owner, PASSWORD);
  await attack(owner);
  await attack(nobody);
  const [ownerAnswer, nobodyAnswer] = [await login(owner, PASSWORD), await login(nobody, PASSWORD)];
  expect(refusal(ownerAnswer)).toEqual(refusal(nobodyAnswer));
  expect(refusal(ownerAnswer)).toMatchObject({ status: 429, code: 'RATE_LIMITED', retryAfter: 30 });
  expect(await lockOf(owner)).toEqual({ lockedUntil: null, lockReason: null });

  // Each further failure doubles the wait; none of them ever answers LOCKED.
  const waits: number[] = [];
  for (let i = 0; i < 4; i++) {
    t.clock.advance(refusal(await login(owner, 'x')).retryAfter * 1000);
    expectCode(await login(owner, `late guess ${i}`), 'UNAUTHENTICATED');
    waits.push(refusal(await login(owner, PASSWORD)).retryAfter);
  }
  expect(waits).toEqual([60, 120, 240, 480]);

  t.clock.advance(480_000);
  expect(signedIn(await login(owner, PASSWORD))).toBe(true);
  expect(await failures(owner)).toBe(0);
});

it('15. during the throttle a magic link gets the owner in and clears it', async () => {
  const email = 'magic-15@example.com';
  await verifiedOwner(email);
  await attack(email);
  expectCode(await login(email, PASSWORD), 'RATE_LIMITED');
  await t.gql(REQUEST_MAGIC_LINK, { email });
  const token = magicLinkTokenIn((await mail.waitFor(email, 'magic-link')).text);
  t.rememberSecret(token);
  expect((await t.gql(LOGIN_WITH_MAGIC_LINK, { email, token })).body.data?.loginWithMagicLink.user.email).toBe(email);
  expect(await failures(email)).toBe(0);
  expect(signedIn(await login(email, PASSWORD))).toBe(true);
});

it('15. during the throttle an email code gets the owner in and clears it', async () => {
  const email = 'code-15@example.com';
  await verifiedOwner(email);
  await attack(email);
  await t.gql(REQUEST_EMAIL_CODE, { email });
  const code = emailCodeIn((await mail.waitFor(email, 'email-code')).text);
  t.rememberSecret(code);
  expect((await t.gql(LOGIN_WITH_EMAIL_CODE, { email, code })).body.data?.loginWithEmailCode.user.email).toBe(email);
  expect(signedIn(await login(email, PASSWORD))).toBe(true);
});

it('15. during the throttle a password reset works and clears it', async () => {
  const email = 'reset-15@example.com';
  await t.register(email, PASSWORD);
  await attack(email);
  await t.gql(REQUEST_RESET, { input: { email } });
  const token = tokenIn(t, await mail.waitFor(email, 'password-reset'), '/auth/reset-password');
  expect((await t.gql(RESET, { input: { token, newPassword: 'owner password 2' } })).body).toEqual({ data: { resetPassword: true } });
  expect(await failures(email)).toBe(0);
  expect(signedIn(await login(email, 'owner password 2'))).toBe(true);
});

it('an admin lock is told only to whoever gives the right password', async () => {
  const email = 'locked-15@example.com';
  const { userId } = await t.register(email, PASSWORD);
  await t.db.query(`UPDATE "User" SET "lockedUntil" = '9999-12-31', "lockReason" = 'Locked by an administrator' WHERE id = $1`, [userId]);
  expectCode(await login(email, 'not the password'), 'UNAUTHENTICATED');
  expectCode(await login(email, PASSWORD), 'LOCKED');
  // The right password of a locked account is not a failure: it does not move the throttle.
  expect(await failures(email)).toBe(1);
});

it('parallel sign-ins of one address, right and wrong, each get an answer (a right one clearing the count never breaks another)', async () => {
  const email = 'busy@example.com';
  await verifiedOwner(email);
  const codes: string[] = [];
  for (let round = 0; round < 10; round++) {
    const results = await Promise.all(Array.from({ length: 4 }, (_, i) => login(email, i === 3 ? `wrong ${round}` : PASSWORD)));
    codes.push(...results.map((r) => (signedIn(r) ? 'ok' : r.body.errors?.[0]?.extensions.code)));
  }
  // Parallel attempts are counted before their result is known, so some may wait (RATE_LIMITED);
  // none may fail on a row another sign-in cleared meanwhile.
  expect(codes.filter((c) => !['ok', 'UNAUTHENTICATED', 'RATE_LIMITED'].includes(c))).toEqual([]);
  expect(codes.filter((c) => c === 'ok').length).toBeGreaterThan(10);
});
