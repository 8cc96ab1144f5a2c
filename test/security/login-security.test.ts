import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { hashToken } from '../../src/platform/crypto.ts';
import { codeOf, startTestApp, type GqlResult, type TestApp } from '../helpers/app.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { metric } from '../helpers/metrics.ts';
import { gate } from '../helpers/recovery.ts';
import { failuresOf, throttleRow } from '../helpers/throttle.ts';

// Checklist 13-16 ("Login and passwords"), each test named after its line.

const LOGIN = `mutation($input: LoginInput!) { login(input: $input) { token session { id } } }`;
const REGISTER = `mutation($input: RegisterInput!) { register(input: $input) { token } }`;
const PASSWORD = 'correct horse battery';

let db: TestDatabase;
let t: TestApp;
const extra: TestApp[] = [];
beforeAll(async () => {
  db = await createTestDatabase();
  t = await startTestApp({ db });
});
afterAll(async () => {
  try {
    for (const app of [t, ...extra]) await app?.close();
  } finally {
    await db.drop();
  }
});

async function app(options: Parameters<typeof startTestApp>[0] = {}): Promise<TestApp> {
  const started = await startTestApp({ db, clock: t.clock, ...options });
  extra.push(started);
  return started;
}
const login = (email: string, password: string, options: { app?: TestApp; xff?: string } = {}) =>
  (options.app ?? t).gql(LOGIN, { input: { email, password } }, { headers: options.xff ? { 'x-forwarded-for': options.xff } : {} });
function expectCode(r: GqlResult, code: string, status: number) {
  expect(codeOf(r)).toBe(code);
  expect(r.status).toBe(status);
}
const userRow = async (email: string) =>
  (await db.query(`SELECT id, "passwordHash", ("lockedUntil" AT TIME ZONE 'UTC') AS "lockedUntil", "lockReason" FROM "User" WHERE email = $1`, [email]))[0];
const sessionCount = async (email: string) =>
  (await db.query(`SELECT 1 FROM "Session" s JOIN "User" u ON u.id = s."userId" WHERE u.email = $1`, [email])).length;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

describe('13. unknown email vs known email with a wrong password', () => {
  it('answers with the same code, message and status, and checks a (dummy) hash for both', async () => {
    await t.register('known-13@example.com', PASSWORD);
    const verify = vi.spyOn(t.app.services.hasher, 'verify');
    try {
      const unknown = await login('unknown-13@example.com', 'wrong password');
      expect(verify).toHaveBeenCalledTimes(1);
      const wrong = await login('known-13@example.com', 'wrong password');
      expect(verify).toHaveBeenCalledTimes(2);
      expectCode(unknown, 'UNAUTHENTICATED', 401);
      expect(wrong.status).toBe(unknown.status);
      const { requestId: a, ...unknownExtensions } = unknown.body.errors![0]!.extensions;
      const { requestId: b, ...wrongExtensions } = wrong.body.errors![0]!.extensions;
      expect(a).not.toBe(b);
      expect(wrongExtensions).toEqual(unknownExtensions);
      expect(wrong.body.errors![0]!.message).toBe(unknown.body.errors![0]!.message);
      expect(wrong.body.data).toEqual(unknown.body.data);
    } finally {
      verify.mockRestore();
    }
    expect(await userRow('unknown-13@example.com')).toBeUndefined();
    // Both addresses are throttled alike: the count tells nobody which one has an account.
    expect([await failuresOf(db, 'unknown-13@example.com'), await failuresOf(db, 'known-13@example.com')]).toEqual([1, 1]);
  });

  it('answers within about 10% of the same time under the production argon2 parameters', async () => {
    const prod = await app({ configure: (c) => c });
    const email = 'timing-13@example.com';
    await prod.register(email, PASSWORD);
    let unknowns = 0;
    const attempt = async (kind: 'unknown' | 'wrong', i: number) => {
      const started = performance.now();
      const r = await login(kind === 'unknown' ? `nobody-${unknowns++}-13@example.com` : email, `wrong password ${i}`, { app: prod });
      const elapsed = performance.now() - started;
      expect(codeOf(r)).toBe('UNAUTHENTICATED');
      // Never let the known address be throttled: the refusal would be measured instead. Each
      // unknown address is new, so both kinds start from no throttle row.
      if (kind === 'wrong') await db.query(`DELETE FROM "Throttle" WHERE subject = $1`, [hashToken(email)]);
      return elapsed;
    };
    // Warm up: the dummy hash is computed on the first unknown email, connections are opened.
    for (let i = 0; i < 3; i++) await attempt('unknown', i), await attempt('wrong', i);
    // Test files before this one create and drop databases: let PostgreSQL flush that work now,
    // not in the middle of the measurement, where it would slow the writes of one kind only.
    await db.query('CHECKPOINT');
    const times = { unknown: [] as number[], wrong: [] as number[] };
    for (let i = 0; i < 31; i++) {
      // Interleaved, alternating which goes first, so drift and noise hit both kinds alike.
      const order = i % 2 ? (['unknown', 'wrong'] as const) : (['wrong', 'unknown'] as const);
      for (const kind of order) times[kind].push(await attempt(kind, i));
    }
    const [unknown, wrong] = [median(times.unknown), median(times.wrong)];
    // The median of the paired differences is what a patient attacker would estimate; load from
    // other processes moves both members of a pair alike and drops out of it.
    const gap = median(times.wrong.map((w, i) => w - times.unknown[i]!));
    console.info(
      `checklist 13 timing: median unknown ${unknown.toFixed(1)} ms, wrong password ${wrong.toFixed(1)} ms, ` +
        `median paired gap ${gap.toFixed(1)} ms (${((100 * gap) / Math.min(unknown, wrong)).toFixed(1)}%)`,
    );
    expect(Math.abs(gap) / Math.min(unknown, wrong)).toBeLessThan(0.12);
  });
});

describe('14. ten wrong passwords for one address from ten different X-Forwarded-For values', () => {
  it('all count against the address, even from ten client addresses behind a trusted proxy', async () => {
    const email = 'xff-14@example.com';
    await t.register(email, PASSWORD);
    const proxied = await app({ env: { TRUST_PROXY: '127.0.0.1' } });
    const from = (i: number, password = 'wrong password') => login(email, password, { app: proxied, xff: `203.0.113.${i}` });
    for (let i = 1; i <= 5; i++) expectCode(await from(i), 'UNAUTHENTICATED', 401);
    // Another client address is no way around the throttle of the address: each must wait it out.
    for (let i = 6; i <= 10; i++) {
      const refused = await from(100 + i);
      expectCode(refused, 'RATE_LIMITED', 429);
      t.clock.advance(refused.body.errors![0]!.extensions.retryAfter * 1000);
      expectCode(await from(i), 'UNAUTHENTICATED', 401);
    }
    expect(await throttleRow(db, email)).toMatchObject({ failures: 10, blockedUntil: new Date(t.clock.now().getTime() + 900_000) });
    expectCode(await from(11, PASSWORD), 'RATE_LIMITED', 429);
    expect(await userRow(email)).toMatchObject({ lockedUntil: null, lockReason: null });
    expect(await sessionCount(email)).toBe(1);
  });

  it('without TRUST_PROXY count against the socket address in the rate limit', async () => {
    const limited = await app({ env: { RATE_LIMITS: 'login=3/15m:IP+EMAIL' } });
    const codes = [];
    for (let i = 1; i <= 4; i++) codes.push(codeOf(await login('xff-limit-14@example.com', 'wrong password', { app: limited, xff: `198.51.100.${i}` })));
    expect(codes).toEqual(['UNAUTHENTICATED', 'UNAUTHENTICATED', 'UNAUTHENTICATED', 'RATE_LIMITED']);
  });

  it('are trusted only from a TRUST_PROXY address: the session records the socket address otherwise', async () => {
    const email = 'proxy-14@example.com';
    await t.register(email, PASSWORD);
    const proxied = await app({ env: { TRUST_PROXY: '127.0.0.1' } });
    const elsewhere = await app({ env: { TRUST_PROXY: '10.0.0.0/8' } });
    const ipOf = async (r: GqlResult) => (await db.query(`SELECT "ipAddress" FROM "Session" WHERE id = $1`, [r.body.data.login.session.id]))[0]?.ipAddress;
    expect(await ipOf(await login(email, PASSWORD, { xff: '203.0.113.7' }))).toBe('127.0.0.1');
    expect(await ipOf(await login(email, PASSWORD, { app: elsewhere, xff: '203.0.113.7' }))).toBe('127.0.0.1');
    expect(await ipOf(await login(email, PASSWORD, { app: proxied, xff: '203.0.113.7' }))).toBe('203.0.113.7');
    // A client behind the proxy prepends its own value; the proxy appends the real address.
    expect(await ipOf(await login(email, PASSWORD, { app: proxied, xff: '192.0.2.66, 203.0.113.8' }))).toBe('203.0.113.8');
  });

  it('from a trusted proxy: the rate limit counts the forwarded client, which cannot pick its own key', async () => {
    const proxied = await app({ env: { TRUST_PROXY: '127.0.0.1', RATE_LIMITS: 'login=2/15m:IP+EMAIL' } });
    const attempt = async (xff: string) => codeOf(await login('proxy-limit-14@example.com', 'wrong password', { app: proxied, xff }));
    expect([await attempt('203.0.113.20'), await attempt('203.0.113.20')]).toEqual(['UNAUTHENTICATED', 'UNAUTHENTICATED']);
    expect(await attempt('192.0.2.1, 203.0.113.20')).toBe('RATE_LIMITED');
    expect(await attempt('203.0.113.21')).toBe('UNAUTHENTICATED');
  });
});

const THROTTLED = { method: 'PASSWORD', result: 'throttled' };
/** What a refusal tells the client, all but the request id. */
function answer(r: GqlResult) {
  const { requestId, ...extensions } = r.body.errors?.[0]?.extensions ?? {};
  return { status: r.status, retryAfterHeader: r.headers.get('retry-after'), message: r.body.errors?.[0]?.message, extensions, data: r.body.data };
}

describe('15. past the throttle threshold', () => {
  it('the correct password is RATE_LIMITED like an unknown address, the wait doubling up to 15 min; after retryAfter (fake clock) it works', async () => {
    const [owner, nobody] = ['throttle-15@example.com', 'no-account-15@example.com'];
    await t.register(owner, PASSWORD);
    const both = async (password: string) => [await login(owner, password), await login(nobody, password)] as const;
    for (let i = 0; i < 5; i++) for (const r of await both(`wrong password ${i}`)) expectCode(r, 'UNAUTHENTICATED', 401);
    const throttledBefore = await metric(t, 'portcullis_logins_total', THROTTLED);
    const verify = vi.spyOn(t.app.services.hasher, 'verify');
    const waits: number[] = [];
    try {
      for (let round = 0; round < 7; round++) {
        if (round > 0) t.clock.advance(waits.at(-1)! * 1000);
        if (round > 0) for (const r of await both(`late guess ${round}`)) expectCode(r, 'UNAUTHENTICATED', 401);
        const [ownerAnswer, nobodyAnswer] = await both(PASSWORD);
        expectCode(ownerAnswer, 'RATE_LIMITED', 429);
        expect(answer(ownerAnswer)).toEqual(answer(nobodyAnswer));
        waits.push(ownerAnswer.body.errors![0]!.extensions.retryAfter);
        expect(answer(ownerAnswer)).toMatchObject({ retryAfterHeader: String(waits.at(-1)), data: null });
      }
      // The right password of a throttled address is not even checked.
      expect(verify.mock.calls.filter(([, password]) => password === PASSWORD)).toHaveLength(0);
    } finally {
      verify.mockRestore();
    }
    expect(waits).toEqual([30, 60, 120, 240, 480, 900, 900]);
    expect(await metric(t, 'portcullis_logins_total', THROTTLED)).toBe(throttledBefore + 14);
    expect([await failuresOf(db, owner), await failuresOf(db, nobody)]).toEqual([11, 11]);
    expect(await userRow(owner)).toMatchObject({ lockedUntil: null, lockReason: null });
    expect(await sessionCount(owner)).toBe(1);

    t.clock.advance(899_000);
    const last = await login(owner, PASSWORD);
    expectCode(last, 'RATE_LIMITED', 429);
    expect(last.body.errors![0]!.extensions.retryAfter).toBe(1);
    t.clock.advance(1000);
    expect((await login(owner, PASSWORD)).body.data.login.token).toBeTruthy();
    expect(await throttleRow(db, owner)).toBeUndefined();
    expect(await sessionCount(owner)).toBe(2);
    // The owner's success does nothing for the unknown address.
    expect(await failuresOf(db, nobody)).toBe(11);
  });

  it('only five of twelve wrong passwords in flight are checked; the correct one sent meanwhile is RATE_LIMITED', async () => {
    const email = 'burst-15@example.com';
    await t.register(email, PASSWORD);
    const hasher = t.app.services.hasher;
    const original = hasher.verify.bind(hasher);
    const { open: release, passed: released } = gate();
    // Every password check waits until the correct password has been answered.
    const verify = vi.spyOn(hasher, 'verify').mockImplementation(async (hash, password) => {
      await released;
      return original(hash, password);
    });
    let answered = 0;
    const pending: Array<Promise<GqlResult>> = [];
    try {
      for (let i = 0; i < 12; i++) pending.push(login(email, `wrong password ${i}`).finally(() => answered++));
      // The refusals come back while the five admitted guesses are still being checked.
      await vi.waitFor(() => expect([verify.mock.calls.length, answered]).toEqual([5, 7]), { timeout: 5000 });
      const right = await login(email, PASSWORD);
      expectCode(right, 'RATE_LIMITED', 429);
      expect(right.body.errors![0]!.extensions.retryAfter).toBe(30);
      expect(verify).toHaveBeenCalledTimes(5);
    } finally {
      release();
      verify.mockRestore();
    }
    const codes = (await Promise.all(pending)).map(codeOf);
    expect(codes.filter((c) => c === 'UNAUTHENTICATED')).toHaveLength(5);
    expect(codes.filter((c) => c === 'RATE_LIMITED')).toHaveLength(7);
    expect([await sessionCount(email), await failuresOf(db, email)]).toEqual([1, 5]);
    expect(await userRow(email)).toMatchObject({ lockedUntil: null, lockReason: null });
  });

  it('twenty parallel wrong passwords, for an account or for nobody: five UNAUTHENTICATED, fifteen RATE_LIMITED', async () => {
    await t.register('burst-20-15@example.com', PASSWORD);
    for (const email of ['burst-20-15@example.com', 'no-account-20-15@example.com']) {
      const codes = (await Promise.all(Array.from({ length: 20 }, (_, i) => login(email, `wrong password ${i}`)))).map(codeOf);
      expect(codes.filter((c) => c === 'UNAUTHENTICATED')).toHaveLength(5);
      expect(codes.filter((c) => c === 'RATE_LIMITED')).toHaveLength(15);
      expect(await failuresOf(db, email)).toBe(5);
    }
    expect(await userRow('burst-20-15@example.com')).toMatchObject({ lockedUntil: null, lockReason: null });
  });
});

describe('16. password length', () => {
  const unicode = (codePoints: number) => Array.from({ length: codePoints }, (_, i) => ['é', '密', '🔑', 'ж'][i % 4]).join('');

  it('a 7-character password -> BAD_USER_INPUT; no account, nothing hashed', async () => {
    const hash = vi.spyOn(t.app.services.hasher, 'hash');
    try {
      const r = await t.gql(REGISTER, { input: { email: 'short-16@example.com', password: '1234567' } });
      expectCode(r, 'BAD_USER_INPUT', 400);
      expect(hash).not.toHaveBeenCalled();
    } finally {
      hash.mockRestore();
    }
    expect(await userRow('short-16@example.com')).toBeUndefined();
  });

  it.each([64, 200])('a %i-character Unicode password is accepted at register and login', async (length) => {
    const password = unicode(length);
    expect([...password]).toHaveLength(length);
    const email = `unicode-${length}-16@example.com`;
    await t.register(email, password);
    expect((await userRow(email)).passwordHash).toMatch(/^\$argon2id\$/);
    expect((await login(email, password)).body.data?.login?.token).toBeTruthy();
    // The whole password counts, not a prefix of it.
    expectCode(await login(email, password.slice(0, -1)), 'UNAUTHENTICATED', 401);
  });

  it('a 10 KB password is rejected before hashing, at register and at login', async () => {
    await t.register('huge-16@example.com', PASSWORD);
    const huge = 'x'.repeat(10 * 1024);
    const hasher = t.app.services.hasher;
    const spies = [vi.spyOn(hasher, 'hash'), vi.spyOn(hasher, 'verify'), vi.spyOn(hasher, 'verifyDummy')];
    try {
      expectCode(await t.gql(REGISTER, { input: { email: 'huge-new-16@example.com', password: huge } }), 'BAD_USER_INPUT', 400);
      expectCode(await login('huge-16@example.com', huge), 'BAD_USER_INPUT', 400);
      expectCode(await login('huge-unknown-16@example.com', huge), 'BAD_USER_INPUT', 400);
      for (const spy of spies) expect(spy).not.toHaveBeenCalled();
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    expect(await userRow('huge-new-16@example.com')).toBeUndefined();
    expect(await throttleRow(db, 'huge-16@example.com')).toBeUndefined();
  });
});
