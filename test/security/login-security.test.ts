import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestApp, type GqlResult, type TestApp } from '../helpers/app.ts';
import { MINUTE } from '../helpers/clock.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';

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
  const started = await startTestApp({ db, ...options });
  extra.push(started);
  return started;
}
const login = (email: string, password: string, options: { app?: TestApp; xff?: string } = {}) =>
  (options.app ?? t).gql(LOGIN, { input: { email, password } }, { headers: options.xff ? { 'x-forwarded-for': options.xff } : {} });
const codeOf = (r: GqlResult) => r.body.errors?.[0]?.extensions.code as string | undefined;
function expectCode(r: GqlResult, code: string, status: number) {
  expect(codeOf(r)).toBe(code);
  expect(r.status).toBe(status);
}
async function userRow(email: string) {
  const [row] = await db.query(
    `SELECT id, "passwordHash", "failedLoginCount", ("lockedUntil" AT TIME ZONE 'UTC') AS "lockedUntil", "lockReason"
       FROM "User" WHERE email = $1`,
    [email],
  );
  return row;
}
const sessionCount = async (email: string) =>
  (await db.query(`SELECT 1 FROM "Session" s JOIN "User" u ON u.id = s."userId" WHERE u.email = $1`, [email])).length;
async function metric(app: TestApp, name: string): Promise<number> {
  const text = await (await fetch(`${app.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : 0;
}
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
    expect((await userRow('known-13@example.com')).failedLoginCount).toBe(1);
  });

  it('answers within about 10% of the same time under the production argon2 parameters', async () => {
    const prod = await app({ configure: (c) => c });
    const email = 'timing-13@example.com';
    await prod.register(email, PASSWORD);
    const attempt = async (kind: 'unknown' | 'wrong', i: number) => {
      const started = performance.now();
      const r = await login(kind === 'unknown' ? `nobody-${i}@example.com` : email, `wrong password ${i}`, { app: prod });
      const elapsed = performance.now() - started;
      expect(codeOf(r)).toBe('UNAUTHENTICATED');
      // Never let the known account lock: the locked path would be measured instead.
      if (kind === 'wrong') await db.query(`UPDATE "User" SET "failedLoginCount" = 0 WHERE email = $1`, [email]);
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
    const unknown = median(times.unknown);
    const wrong = median(times.wrong);
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

describe('14. ten wrong passwords for one account from ten different X-Forwarded-For values', () => {
  it('still count for the account: the tenth locks it', async () => {
    const email = 'xff-14@example.com';
    await t.register(email, PASSWORD);
    for (let i = 1; i <= 10; i++) {
      expectCode(await login(email, 'wrong password', { xff: `203.0.113.${i}` }), 'UNAUTHENTICATED', 401);
      if (i === 9) expect(await userRow(email)).toMatchObject({ failedLoginCount: 9, lockedUntil: null });
    }
    expect((await userRow(email)).lockedUntil).toEqual(new Date(t.clock.now().getTime() + 15 * MINUTE));
    expectCode(await login(email, PASSWORD, { xff: '203.0.113.11' }), 'LOCKED', 423);
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
    const ipOf = async (r: GqlResult) =>
      (await db.query(`SELECT "ipAddress" FROM "Session" WHERE id = $1`, [r.body.data.login.session.id]))[0]?.ipAddress;
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

describe('15. past the lockout threshold, the correct password', () => {
  it('is still LOCKED with retryAfter; after the window (fake clock) it succeeds and the counter resets', async () => {
    const email = 'lockout-15@example.com';
    await t.register(email, PASSWORD);
    const lockoutsBefore = await metric(t, 'portcullis_account_lockouts_total');
    for (let i = 0; i < 10; i++) expectCode(await login(email, `wrong password ${i}`), 'UNAUTHENTICATED', 401);
    const locked = await userRow(email);
    expect(locked).toMatchObject({ failedLoginCount: 0, lockReason: expect.any(String) });
    expect(locked.lockedUntil).toEqual(new Date(t.clock.now().getTime() + 15 * MINUTE));
    expect(await metric(t, 'portcullis_account_lockouts_total')).toBe(lockoutsBefore + 1);

    const verify = vi.spyOn(t.app.services.hasher, 'verify');
    try {
      const r = await login(email, PASSWORD);
      expectCode(r, 'LOCKED', 423);
      expect(r.body.errors![0]!.extensions.retryAfter).toBe(15 * 60);
      expect(r.headers.get('retry-after')).toBe('900');
      expect(r.body.data).toBeNull();
      // Only the dummy hash was verified: a locked account's password is not even checked.
      expect(verify).toHaveBeenCalledTimes(1);
      expect(verify.mock.calls[0]![0]).not.toBe(locked.passwordHash);
      // More guesses while locked neither extend the lock nor count.
      for (let i = 0; i < 3; i++) expectCode(await login(email, 'wrong password'), 'LOCKED', 423);
      expect(verify.mock.calls.every(([hash]) => hash !== locked.passwordHash)).toBe(true);
    } finally {
      verify.mockRestore();
    }
    expect(await userRow(email)).toMatchObject({ failedLoginCount: 0, lockedUntil: locked.lockedUntil });
    expect(await sessionCount(email)).toBe(1);

    t.clock.advance(15 * MINUTE - 1000);
    const last = await login(email, PASSWORD);
    expectCode(last, 'LOCKED', 423);
    expect(last.body.errors![0]!.extensions.retryAfter).toBe(1);
    t.clock.advance(2000);
    const ok = await login(email, PASSWORD);
    expect(ok.status).toBe(200);
    expect(ok.body.data.login.token).toBeTruthy();
    expect(await userRow(email)).toMatchObject({ failedLoginCount: 0, lockedUntil: null, lockReason: null });
    expect(await sessionCount(email)).toBe(2);
    expect(await metric(t, 'portcullis_account_lockouts_total')).toBe(lockoutsBefore + 1);

    // The counter starts again from zero: nine failures do not lock, the tenth does.
    for (let i = 0; i < 9; i++) await login(email, 'wrong password');
    expect(await userRow(email)).toMatchObject({ failedLoginCount: 9, lockedUntil: null });
    await login(email, 'wrong password');
    expect((await userRow(email)).lockedUntil).not.toBeNull();
    expect(await metric(t, 'portcullis_account_lockouts_total')).toBe(lockoutsBefore + 2);
  });
});

describe('15. past the lockout threshold, in parallel', () => {
  it('the correct password sent while 12 wrong ones are still being checked is LOCKED; exactly one lockout', async () => {
    const email = 'burst-15@example.com';
    await t.register(email, PASSWORD);
    const lockoutsBefore = await metric(t, 'portcullis_account_lockouts_total');
    const hasher = t.app.services.hasher;
    const original = hasher.verify.bind(hasher);
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    // Every password check waits until all the guesses are in flight.
    const verify = vi.spyOn(hasher, 'verify').mockImplementation(async (hash, password) => {
      await released;
      return original(hash, password);
    });
    const pending: Array<Promise<GqlResult>> = [];
    try {
      for (let i = 0; i < 12; i++) pending.push(login(email, `wrong password ${i}`));
      await vi.waitFor(() => expect(verify).toHaveBeenCalledTimes(12), { timeout: 5000 });
      // The account is locked by the tenth guess counted, before any of their passwords is known.
      await vi.waitFor(async () => expect((await userRow(email)).lockedUntil).not.toBeNull(), { timeout: 3000 });
      pending.push(login(email, PASSWORD));
      await vi.waitFor(() => expect(verify).toHaveBeenCalledTimes(13), { timeout: 5000 });
    } finally {
      release();
      verify.mockRestore();
    }
    const results = await Promise.all(pending);
    expectCode(results.at(-1)!, 'LOCKED', 423);
    expect(results.at(-1)!.body.errors![0]!.extensions.retryAfter).toBe(15 * 60);
    const codes = results.slice(0, -1).map(codeOf);
    expect(codes.filter((c) => c === 'UNAUTHENTICATED')).toHaveLength(10);
    expect(codes.filter((c) => c === 'LOCKED')).toHaveLength(2);
    expect(await sessionCount(email)).toBe(1);
    expect(await userRow(email)).toMatchObject({ failedLoginCount: 0, lockedUntil: expect.any(Date) });
    expect(await metric(t, 'portcullis_account_lockouts_total')).toBe(lockoutsBefore + 1);
  });

  it('twenty parallel wrong passwords: ten answered UNAUTHENTICATED, the rest LOCKED, one lockout', async () => {
    const email = 'burst-20-15@example.com';
    await t.register(email, PASSWORD);
    const lockoutsBefore = await metric(t, 'portcullis_account_lockouts_total');
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => login(email, `wrong password ${i}`)));
    const codes = results.map(codeOf);
    expect(codes.filter((c) => c === 'UNAUTHENTICATED')).toHaveLength(10);
    expect(codes.filter((c) => c === 'LOCKED')).toHaveLength(10);
    expect(await metric(t, 'portcullis_account_lockouts_total')).toBe(lockoutsBefore + 1);
    expect(await userRow(email)).toMatchObject({ failedLoginCount: 0, lockedUntil: expect.any(Date) });
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
    expect((await userRow('huge-16@example.com')).failedLoginCount).toBe(0);
  });
});
