import { afterAll, beforeAll, expect, it } from 'vitest';
import type { TestApp } from '../helpers/app.ts';
import type { SendgridFake } from '../helpers/sendgrid-fake.ts';
import { ME, REQUEST_VERIFICATION, VERIFY, expectCode, startMailingApp, tokenIn, tokenRow } from '../helpers/recovery.ts';

// SECURITY-CHECKLIST.md item 52: "`verifyEmail` only from a session of the account the link was
// sent to; the address's owner following a squatter's verification link verifies nothing and
// grants no role." Told as the story of a squatter who registers the owner's address first.

const OWNER = 'owner-52@example.com';
const ADMIN_ADDRESS = 'boss-52@example.com';

let mail: SendgridFake;
let t: TestApp;
let stop: () => Promise<void>;
beforeAll(async () => {
  ({ t, mail, close: stop } = await startMailingApp({ ADMIN_EMAILS: `${ADMIN_ADDRESS},${OWNER}` }));
});
afterAll(() => stop?.());

const verify = (token: string, session?: string) => t.gql(VERIFY, { input: { token } }, { token: session });
const account = async (email: string) =>
  (await t.db.query(`SELECT id, "emailVerified", role, "passwordHash" IS NOT NULL AS "hasPassword" FROM "User" WHERE email = $1`, [email]))[0];
const verifiedEvents = async (userId: string) =>
  (await t.db.query(`SELECT count(*)::int AS n FROM "AuditEvent" WHERE type = 'email.verified' AND "userId" = $1`, [userId]))[0].n;

it("52. the owner following a squatter's verification link verifies nothing and grants no role", async () => {
  // The squatter registers the owner's address (an ADMIN_EMAILS one) with a password of hers.
  const squatter = await t.register(OWNER, 'squatter password 1');
  const link = tokenIn(t, await mail.waitFor(OWNER, 'email-verification'), '/auth/verify-email');

  // The owner opens the genuine mail and follows the link: without a session of that account
  // (no session at all, or signed in to some other account of hers), nothing is verified.
  expectCode(await verify(link), 'UNAUTHENTICATED');
  const elsewhere = await t.register('owner-other-52@example.com', 'owner password 1');
  const r = await verify(link, elsewhere.token);
  expectCode(r, 'TOKEN_INVALID');
  expect(r.status).toBe(400);

  // What the squatter holds: an unverified account with no role, and the link was not spent.
  expect(await account(OWNER)).toMatchObject({ emailVerified: false, role: 'USER', hasPassword: true });
  expect(await tokenRow(t, link)).toMatchObject({ consumedAt: null });
  expect(await verifiedEvents(squatter.userId)).toBe(0);
  expect((await t.gql(ME, {}, { token: squatter.token })).body.data.me).toMatchObject({ emailVerified: false });
});

it('52. verifyEmail works from a session of the account the link was mailed to, and only there', async () => {
  const owner = await t.register(ADMIN_ADDRESS, 'owner password 2');
  const first = tokenIn(t, await mail.waitFor(ADMIN_ADDRESS, 'email-verification'), '/auth/verify-email');
  // Another signed-in account cannot spend it...
  const stranger = await t.register('stranger-52@example.com', 'stranger password');
  expectCode(await verify(first, stranger.token), 'TOKEN_INVALID');
  expect(await account('stranger-52@example.com')).toMatchObject({ emailVerified: false, role: 'USER' });
  // ...and the account's own session can, once.
  const done = await verify(first, owner.token);
  expect(done.body).toEqual({ data: { verifyEmail: { id: owner.userId, email: ADMIN_ADDRESS, emailVerified: true } } });
  expect(await account(ADMIN_ADDRESS)).toMatchObject({ emailVerified: true, role: 'ADMIN' });
  expect(await verifiedEvents(owner.userId)).toBe(1);
  expectCode(await verify(first, owner.token), 'TOKEN_INVALID');
});

it('52. a link requested again is bound the same way', async () => {
  const user = await t.register('again-52@example.com', 'again password 1');
  await mail.waitFor('again-52@example.com', 'email-verification');
  expect((await t.gql(REQUEST_VERIFICATION, {}, { token: user.token })).body).toEqual({ data: { requestEmailVerification: true } });
  const second = tokenIn(t, await mail.waitFor('again-52@example.com', 'email-verification', { count: 2 }), '/auth/verify-email');
  expectCode(await verify(second), 'UNAUTHENTICATED');
  expect((await verify(second, user.token)).body.data.verifyEmail).toMatchObject({ emailVerified: true });
});
