import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/platform/crypto.ts';
import { codeOf, startTestApp, type GqlResult, type TestApp } from '../helpers/app.ts';
import { MINUTE } from '../helpers/clock.ts';
import {
  LOGIN_WITH_EMAIL_CODE,
  LOGIN_WITH_MAGIC_LINK,
  ME,
  emailCodeFor,
  fastQueue,
  magicLinkFor,
  rowsHolding,
  sendgridEnv,
  wrongCode,
} from '../helpers/passwordless.ts';
import { startSendgridFake, type SendgridFake } from '../helpers/sendgrid-fake.ts';
import { failuresOf } from '../helpers/throttle.ts';

// Checklist 26-30 ("Magic link and email code"), each test named after its line (30 with the
// per-address budget of wrong codes of checklist 55 beside the per-code one). Mail goes through
// the real SendGrid client to a local fake, so the secrets are read from the mails as a user would,
// and the database (public and pgboss schemas, every row as text) is searched for them.

let fake: SendgridFake;
let t: TestApp;
beforeAll(async () => {
  fake = await startSendgridFake();
  // The per-IP sign-in limits (30/15m) would stop the concurrency tests before the token rules do.
  t = await startTestApp({
    env: sendgridEnv(fake, 'loginWithMagicLink=10000/15m:IP;loginWithEmailCode=10000/15m:IP'),
    configure: fastQueue,
  });
});
afterAll(async () => {
  try {
    await t?.close();
  } finally {
    await fake?.close();
  }
});

function expectRefused(r: GqlResult, code: 'TOKEN_INVALID' | 'TOKEN_EXPIRED') {
  expect(codeOf(r)).toBe(code);
  expect(r.status).toBe(code === 'TOKEN_INVALID' ? 400 : 498);
  expect(r.body.errors![0]!.extensions.http?.status).toBe(r.status);
  expect(r.body.data).toBeNull();
}
const sessionsOf = (email: string) =>
  t.db.query<{ method: string }>(`SELECT s.method::text FROM "Session" s JOIN "User" u ON u.id = s."userId" WHERE u.email = $1`, [email]);
const userExists = async (email: string) => (await t.db.query(`SELECT 1 FROM "User" WHERE email = $1`, [email])).length === 1;
const codeRows = (email: string) =>
  t.db.query<{ id: string; tokenHash: string; attempts: number; consumed: boolean }>(
    `SELECT id, "tokenHash", attempts, "consumedAt" IS NOT NULL AS consumed FROM "OneTimeToken"
      WHERE email = $1 AND purpose = 'EMAIL_CODE' ORDER BY "createdAt", id`,
    [email],
  );
const magicLogin = (email: string, token: string) => t.gql(LOGIN_WITH_MAGIC_LINK, { email, token });
const codeLogin = (email: string, code: string) => t.gql(LOGIN_WITH_EMAIL_CODE, { email, code });

describe('Magic link and email code', () => {
  it('26. A magic-link token used twice, or twice concurrently -> one session; then TOKEN_INVALID. The database holds only a hash of the token.', async () => {
    // Twice, one after the other.
    const email = 'twice-26@example.com';
    const token = await magicLinkFor(t, fake, email);
    const first = await magicLogin(email, token);
    expect(first.body.data.loginWithMagicLink.session.method).toBe('MAGIC_LINK');
    expectRefused(await magicLogin(email, token), 'TOKEN_INVALID');
    expect(await sessionsOf(email)).toEqual([{ method: 'MAGIC_LINK' }]);

    // Ten uses at once, for an address without an account yet.
    const racer = 'race-26@example.com';
    const raced = await magicLinkFor(t, fake, racer);
    const results = await Promise.all(Array.from({ length: 10 }, () => magicLogin(racer, raced)));
    const won = results.filter((r) => r.body.data?.loginWithMagicLink);
    expect(won).toHaveLength(1);
    for (const r of results.filter((x) => x !== won[0])) expectRefused(r, 'TOKEN_INVALID');
    expect(await sessionsOf(racer)).toEqual([{ method: 'MAGIC_LINK' }]);
    expect(await t.db.query(`SELECT 1 FROM "User" WHERE email = $1`, [racer])).toHaveLength(1);
    const me = await t.gql(ME, {}, { token: won[0]!.body.data.loginWithMagicLink.token });
    expect(me.body.data.me.email).toBe(racer);

    // Only the SHA-256 of each token is stored; no table of the service or of pg-boss holds it raw.
    const unused = await magicLinkFor(t, fake, 'unused-26@example.com');
    for (const secret of [token, raced, unused]) {
      expect(await rowsHolding(t.db, secret)).toEqual([]);
      const stored = await t.db.query(`SELECT purpose::text FROM "OneTimeToken" WHERE "tokenHash" = $1`, [hashToken(secret)]);
      expect(stored).toEqual([{ purpose: 'MAGIC_LINK' }]);
    }
    // Nor the session tokens those links gave.
    expect(await rowsHolding(t.db, won[0]!.body.data.loginWithMagicLink.token)).toEqual([]);
  });

  it('27. A magic-link token after 10 minutes -> TOKEN_EXPIRED.', async () => {
    const email = 'late-27@example.com';
    const stale = await magicLinkFor(t, fake, email);
    const fresh = await magicLinkFor(t, fake, email);
    t.clock.advance(10 * MINUTE - 1_000);
    // 9 min 59 s: still good.
    expect((await magicLogin(email, fresh)).body.data.loginWithMagicLink.session.method).toBe('MAGIC_LINK');
    t.clock.advance(1_000);
    // 10 min: expired, and stays so (not consumed: TOKEN_EXPIRED every time).
    expectRefused(await magicLogin(email, stale), 'TOKEN_EXPIRED');
    expectRefused(await magicLogin(email, stale), 'TOKEN_EXPIRED');
    expect(await sessionsOf(email)).toHaveLength(1);

    const nobody = 'late-new-27@example.com';
    const unused = await magicLinkFor(t, fake, nobody);
    t.clock.advance(60 * MINUTE);
    expectRefused(await magicLogin(nobody, unused), 'TOKEN_EXPIRED');
    expect(await userExists(nobody)).toBe(false);
  });

  it('28. A token issued for a@x presented with b@x -> TOKEN_INVALID; no account for b@x is created.', async () => {
    const a = 'a-28@example.com';
    const b = 'b-28@example.com';
    const existing = 'c-28@example.com';
    await t.register(existing);
    const token = await magicLinkFor(t, fake, a);
    expectRefused(await magicLogin(b, token), 'TOKEN_INVALID');
    expectRefused(await magicLogin(existing, token), 'TOKEN_INVALID');
    expect(await userExists(b)).toBe(false);
    expect(await sessionsOf(existing)).toHaveLength(1); // only the one register gave
    expect(await userExists(a)).toBe(false);
    // The same holds for a code.
    const code = await emailCodeFor(t, fake, a);
    expectRefused(await codeLogin(b, code), 'TOKEN_INVALID');
    expect(await userExists(b)).toBe(false);
    // The rightful owner can still use both.
    expect((await magicLogin(a, token)).body.data.loginWithMagicLink.user.email).toBe(a);
    expect((await codeLogin(a, code)).body.data.loginWithEmailCode.user.email).toBe(a);
  });

  it('29. Email code: 5 wrong codes -> the code is burned; the right code afterwards -> TOKEN_INVALID; a new request voids the previous code.', async () => {
    const email = 'burn-29@example.com';
    const code = await emailCodeFor(t, fake, email);
    for (let i = 1; i <= 5; i++) {
      expectRefused(await codeLogin(email, wrongCode(code, i)), 'TOKEN_INVALID');
      expect((await codeRows(email))[0]).toMatchObject({ attempts: i, consumed: i === 5 });
    }
    expectRefused(await codeLogin(email, code), 'TOKEN_INVALID');
    expect(await codeRows(email)).toMatchObject([{ attempts: 5, consumed: true }]);
    expect(await userExists(email)).toBe(false);

    // A new request voids the previous code: the old one is refused, the new one works.
    const other = 'void-29@example.com';
    const old = await emailCodeFor(t, fake, other);
    const current = await emailCodeFor(t, fake, other);
    const rows = await codeRows(other);
    const rowOf = (c: string) => rows.find((r) => r.tokenHash === hashToken(`${r.id}:${c}`));
    expect(rows).toHaveLength(2);
    expect(rowOf(old)).toMatchObject({ consumed: true });
    expect(rowOf(current)).toMatchObject({ consumed: false });
    if (old !== current) expectRefused(await codeLogin(other, old), 'TOKEN_INVALID');
    const login = await codeLogin(other, current);
    expect(login.body.data.loginWithEmailCode.session.method).toBe('EMAIL_CODE');
    expect(await sessionsOf(other)).toEqual([{ method: 'EMAIL_CODE' }]);
  });

  it('30. Fifty concurrent wrong codes -> the attempt budget is never exceeded.', async () => {
    const email = 'storm-30@example.com';
    const code = await emailCodeFor(t, fake, email);
    const [row] = await codeRows(email);
    // Watch the attempts column while the guesses run.
    let highest = 0;
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const [r] = await t.db.query<{ attempts: number }>(`SELECT attempts FROM "OneTimeToken" WHERE id = $1`, [row!.id]);
        highest = Math.max(highest, r!.attempts);
      }
    })();
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => codeLogin(email, wrongCode(code, i + 1))));
    watching = false;
    await watcher;
    // Both budgets hold: the address gets 10 guesses an hour, and the code 5 tries of those.
    const overAddressBudget = results.filter((r) => codeOf(r) === 'RATE_LIMITED');
    expect(overAddressBudget).toHaveLength(40);
    for (const r of overAddressBudget) expect(r).toMatchObject({ status: 429, body: { data: null, errors: [{ extensions: { retryAfter: 3600 } }] } });
    for (const r of results.filter((r) => codeOf(r) !== 'RATE_LIMITED')) expectRefused(r, 'TOKEN_INVALID');
    const [after] = await codeRows(email);
    expect(after).toMatchObject({ attempts: 5, consumed: true });
    expect(highest).toBeLessThanOrEqual(5);
    expect([await failuresOf(t.db, email, 'email-code:hour'), await failuresOf(t.db, email, 'email-code:day')]).toEqual([10, 10]);
    // The budgets are spent: the right code is refused, and no session or account exists.
    expect(codeOf(await codeLogin(email, code))).toBe('RATE_LIMITED');
    // An hour on, the address may guess again, but this code stays burned.
    t.clock.advance(60 * MINUTE);
    expectRefused(await codeLogin(email, code), 'TOKEN_INVALID');
    expect((await codeRows(email))[0]!.attempts).toBe(5);
    expect(await userExists(email)).toBe(false);
  });

  it('The database never holds a raw email code, only a hash salted with its row id', async () => {
    const email = 'stored-code@example.com';
    const code = await emailCodeFor(t, fake, email);
    const [row] = await codeRows(email);
    expect(row!.tokenHash).toBe(hashToken(`${row!.id}:${code}`));
    expect(row!.tokenHash).not.toBe(hashToken(code));
    expect(await rowsHolding(t.db, code)).toEqual([]);
    const login = await codeLogin(email, code);
    expect(login.body.data.loginWithEmailCode.session.method).toBe('EMAIL_CODE');
    expect(await rowsHolding(t.db, code)).toEqual([]);
  });
});
