import { afterAll, beforeAll, expect, it } from 'vitest';
import { hashToken } from '../../src/platform/crypto.ts';
import { codeOf, type TestApp } from '../helpers/app.ts';
import { HOUR, MINUTE } from '../helpers/clock.ts';
import { emailCodeIn, type SendgridFake } from '../helpers/sendgrid-fake.ts';
import { LOGIN_WITH_EMAIL_CODE, REQUEST_EMAIL_CODE, wrongCode } from '../helpers/passwordless.ts';
import { expectCode, startMailingApp } from '../helpers/recovery.ts';

// SECURITY-CHECKLIST.md item 55: "Email codes: besides 5 tries per code, failures count per
// address across codes (at most 10 an hour, 20 a day), after which even the right code is refused
// until the window passes." Without it, asking for new codes buys new guesses forever.

let mail: SendgridFake;
let t: TestApp;
let stop: () => Promise<void>;
beforeAll(async () => {
  ({ t, mail, close: stop } = await startMailingApp());
});
afterAll(() => stop?.());

async function freshCode(email: string): Promise<string> {
  const count = mail.to(email, 'email-code').length + 1;
  expect((await t.gql(REQUEST_EMAIL_CODE, { email })).body.data).toEqual({ requestEmailCode: true });
  const code = emailCodeIn((await mail.waitFor(email, 'email-code', { count })).text);
  t.rememberSecret(code);
  return code;
}
const signIn = (email: string, code: string) => t.gql(LOGIN_WITH_EMAIL_CODE, { email, code });
const sessions = async (email: string) =>
  (await t.db.query(`SELECT count(*)::int AS n FROM "Session" s JOIN "User" u ON u.id = s."userId" WHERE u.email = $1`, [email]))[0].n;
const failures = async (email: string, scope: string) =>
  (await t.db.query(`SELECT failures FROM "Throttle" WHERE scope = $1 AND subject = $2`, [scope, hashToken(email)]))[0]?.failures ?? 0;

/** Spends `n` wrong guesses on fresh codes (5 per code burns it, so a new one is asked for). */
async function guessWrong(email: string, n: number) {
  let code = await freshCode(email);
  for (let i = 0; i < n; i++) {
    if (i > 0 && i % 5 === 0) code = await freshCode(email);
    expectCode(await signIn(email, wrongCode(code, i + 1)), 'TOKEN_INVALID');
  }
}

it('55. ten wrong codes across three codes in an hour: even the right code is refused until the hour has passed', async () => {
  const email = 'hourly-55@example.com';
  await guessWrong(email, 10);
  expect(await failures(email, 'email-code:hour')).toBe(10);
  const right = await freshCode(email);
  const refused = await signIn(email, right);
  expectCode(refused, 'RATE_LIMITED');
  expect(refused.status).toBe(429);
  expect(refused.body.errors![0]!.extensions.retryAfter).toBeGreaterThan(3500);
  expect(await sessions(email)).toBe(0);
  // The refused code was not even tried: it is still live, with every try left.
  const [row] = await t.db.query(
    `SELECT attempts, "consumedAt" FROM "OneTimeToken" WHERE email = $1 AND purpose = 'EMAIL_CODE' ORDER BY "createdAt" DESC LIMIT 1`,
    [email],
  );
  expect(row).toEqual({ attempts: 0, consumedAt: null });

  t.clock.advance(HOUR);
  const later = await freshCode(email);
  const r = await signIn(email, later);
  expect(r.body.data?.loginWithEmailCode.user.email).toBe(email);
  // The right code gives its reservation back: it is not counted as a failure.
  expect(await failures(email, 'email-code:hour')).toBe(0);
});

it('55. twenty wrong codes in a day: the hourly window passing is not enough, the day must', async () => {
  const email = 'daily-55@example.com';
  await guessWrong(email, 10);
  t.clock.advance(HOUR);
  await guessWrong(email, 10);
  expect(await failures(email, 'email-code:day')).toBe(20);
  t.clock.advance(HOUR);
  const refused = await signIn(email, await freshCode(email));
  expectCode(refused, 'RATE_LIMITED');
  expect(refused.body.errors![0]!.extensions.retryAfter).toBeGreaterThan(21 * 3600);
  t.clock.advance(22 * HOUR + MINUTE);
  expect((await signIn(email, await freshCode(email))).body.data?.loginWithEmailCode.user.email).toBe(email);
});

it('55. fifty concurrent wrong codes: exactly ten are tried, the rest are refused untried', async () => {
  const email = 'burst-55@example.com';
  const code = await freshCode(email);
  const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => signIn(email, wrongCode(code, i + 1))));
  const codes = answers.map(codeOf);
  expect(codes.filter((c) => c === 'TOKEN_INVALID')).toHaveLength(10);
  expect(codes.filter((c) => c === 'RATE_LIMITED')).toHaveLength(40);
  expect(await failures(email, 'email-code:hour')).toBe(10);
  expectCode(await signIn(email, await freshCode(email)), 'RATE_LIMITED');
});

it('55. the budget is per address: another address is not held back', async () => {
  await guessWrong('noisy-55@example.com', 10);
  const email = 'quiet-55@example.com';
  expect((await signIn(email, await freshCode(email))).body.data?.loginWithEmailCode.user.email).toBe(email);
});
