import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { fastHashing, codeOf, startTestApp, type GqlResult, type TestApp } from '../helpers/app.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { metric } from '../helpers/metrics.ts';
import { failuresOf, relaxedThrottle } from '../helpers/throttle.ts';

// Issue 3, acceptance: "20 parallel `login` attempts against a limit of 5 give exactly 5
// evaluations and 15 RATE_LIMITED, with Redis and without" and "Two server instances sharing Redis
// share the counters"; the default limits of `login` and `register`; the per-IP limit; the window.
// The per-address password throttle is relaxed here, so every refusal seen is the rate limit's.

const REDIS_URL = 'redis://127.0.0.1:6379';
const LOGIN = `mutation($input: LoginInput!) { login(input: $input) { token } }`;
const REGISTER = `mutation($input: RegisterInput!) { register(input: $input) { token } }`;
const PASSWORD = 'correct horse battery';

let db: TestDatabase;
let redis: Redis;
const apps: TestApp[] = [];
beforeAll(async () => {
  db = await createTestDatabase();
  redis = new Redis(REDIS_URL, { lazyConnect: true });
  await redis.connect();
});
afterAll(async () => {
  try {
    for (const app of apps) await app.close();
  } finally {
    await redis.quit();
    await db.drop();
  }
});

async function app(env: Record<string, string>): Promise<TestApp> {
  const started = await startTestApp({ db, env, configure: (c) => relaxedThrottle(fastHashing(c)) });
  apps.push(started);
  return started;
}
const withRedis = (env: Record<string, string>, prefix = `test:${randomUUID()}:`) => ({ ...env, REDIS_URL, REDIS_PREFIX: prefix });
const login = (t: TestApp, email: string, password = 'wrong password', headers?: Record<string, string>) =>
  t.gql(LOGIN, { input: { email, password } }, { headers });

const loginsTotal = async (t: TestApp) =>
  (await metric(t, 'portcullis_logins_total', { method: 'PASSWORD', result: 'failure' })) +
  (await metric(t, 'portcullis_logins_total', { method: 'PASSWORD', result: 'success' }));

function expectRateLimited(r: GqlResult) {
  expect(codeOf(r)).toBe('RATE_LIMITED');
  expect(r.status).toBe(429);
  expect(r.body.data?.login ?? null).toBeNull();
  const retryAfter = r.body.errors![0]!.extensions.retryAfter;
  expect(retryAfter).toBeGreaterThan(0);
  expect(Number(r.headers.get('retry-after'))).toBe(retryAfter);
}
/** Password attempts the throttle counted: only those the rate limit let through. */
const failedLoginCount = (email: string) => failuresOf(db, email);

describe.each([
  ['without Redis', (env: Record<string, string>) => env],
  ['with Redis', (env: Record<string, string>) => withRedis(env)],
])('20 parallel login attempts against a limit of 5 (%s)', (label, configure) => {
  it('give exactly 5 password evaluations and 15 RATE_LIMITED (429, retryAfter, Retry-After)', async () => {
    const t = await app(configure({ RATE_LIMITS: 'login=5/15m:IP+EMAIL' }));
    const email = `parallel-${label.replace(/ /g, '-').toLowerCase()}@example.com`;
    await t.register(email, PASSWORD);
    const verify = vi.spyOn(t.app.services.hasher, 'verify');
    const dummy = vi.spyOn(t.app.services.hasher, 'verifyDummy');
    const loginsBefore = await loginsTotal(t);
    try {
      const results = await Promise.all(Array.from({ length: 20 }, () => login(t, email)));
      const limited = results.filter((r) => codeOf(r) === 'RATE_LIMITED');
      const evaluated = results.filter((r) => codeOf(r) === 'UNAUTHENTICATED');
      expect(evaluated).toHaveLength(5);
      expect(limited).toHaveLength(15);
      for (const r of limited) expectRateLimited(r);
      expect(verify).toHaveBeenCalledTimes(5);
      expect(dummy).not.toHaveBeenCalled();
    } finally {
      verify.mockRestore();
      dummy.mockRestore();
    }
    expect(await failedLoginCount(email)).toBe(5);
    expect(await loginsTotal(t)).toBe(loginsBefore + 5);
    expect(await metric(t, 'portcullis_rate_limited_total', { operation: 'login' })).toBe(15);
    expect(await metric(t, 'portcullis_rate_limit_fallback_total')).toBe(0);
    if (label === 'with Redis') {
      // The counters really live in Redis, under this app's prefix.
      expect(await redis.keys(`${t.config.redisPrefix}rl:login:*`)).not.toHaveLength(0);
    }
  });
});

describe('two server instances sharing Redis', () => {
  it('share the counters: 2 attempts on A and 3 on B against a limit of 4 -> the 5th is RATE_LIMITED', async () => {
    const env = withRedis({ RATE_LIMITS: 'login=4/15m:IP+EMAIL' });
    const a = await app(env);
    const b = await app(env);
    const email = 'two-instances@example.com';
    await a.register(email, PASSWORD);
    const verifyB = vi.spyOn(b.app.services.hasher, 'verify');
    try {
      for (let i = 0; i < 2; i++) expect(codeOf(await login(a, email))).toBe('UNAUTHENTICATED');
      for (let i = 0; i < 2; i++) expect(codeOf(await login(b, email))).toBe('UNAUTHENTICATED');
      const fifth = await login(b, email, PASSWORD);
      expectRateLimited(fifth);
      expect(verifyB).toHaveBeenCalledTimes(2);
    } finally {
      verifyB.mockRestore();
    }
    expectRateLimited(await login(a, email, PASSWORD));
    expect(await failedLoginCount(email)).toBe(4);
    expect(await db.query(`SELECT 1 FROM "Session" s JOIN "User" u ON u.id = s."userId" WHERE u.email = $1`, [email])).toHaveLength(1);
    expect(await metric(b, 'portcullis_rate_limited_total', { operation: 'login' })).toBe(1);
    expect(await metric(a, 'portcullis_rate_limited_total', { operation: 'login' })).toBe(1);
  });
});

describe('default limits (RATE_LIMITS unset)', () => {
  it('register: 10 per hour per IP; the 11th is RATE_LIMITED and creates no user', async () => {
    const t = await app({ RATE_LIMITS: '' });
    const hash = vi.spyOn(t.app.services.hasher, 'hash');
    try {
      for (let i = 1; i <= 10; i++) {
        const r = await t.gql(REGISTER, { input: { email: `reg-default-${i}@example.com`, password: PASSWORD } });
        expect(r.body.data?.register?.token).toBeTruthy();
      }
      const eleventh = await t.gql(REGISTER, { input: { email: 'reg-default-11@example.com', password: PASSWORD } });
      expect(codeOf(eleventh)).toBe('RATE_LIMITED');
      expect(eleventh.status).toBe(429);
      expect(eleventh.body.errors![0]!.extensions.retryAfter).toBeGreaterThan(3500);
      expect(hash).toHaveBeenCalledTimes(10);
    } finally {
      hash.mockRestore();
    }
    expect(await db.query(`SELECT 1 FROM "User" WHERE email LIKE 'reg-default-%'`)).toHaveLength(10);
    expect(await metric(t, 'portcullis_rate_limited_total', { operation: 'register' })).toBe(1);
  });

  it('register: 5 per hour per address, whatever the answer and the spelling; the 6th is RATE_LIMITED, then another address is not', async () => {
    const t = await app({ RATE_LIMITS: '' });
    const register = (email: string) => t.gql(REGISTER, { input: { email, password: PASSWORD } });
    const codes = [];
    for (const email of ['reg-address@example.com', 'Reg-Address@example.com', ...Array(3).fill(' reg-address@EXAMPLE.com ')]) {
      codes.push(codeOf(await register(email)));
    }
    expect(codes).toEqual([undefined, 'CONFLICT', 'CONFLICT', 'CONFLICT', 'CONFLICT']);
    const sixth = await register('reg-address@example.com');
    expectRateLimited(sixth);
    expect(sixth.body.errors![0]!.extensions.retryAfter).toBeGreaterThan(3500);
    expect(await metric(t, 'portcullis_rate_limited_total', { operation: 'register' })).toBe(1);
    expect(await register('reg-other-address@example.com')).toMatchObject({ status: 200 });
    expect(await db.query(`SELECT email FROM "User" WHERE email LIKE 'reg-%address@example.com' ORDER BY email`)).toEqual([
      { email: 'reg-address@example.com' },
      { email: 'reg-other-address@example.com' },
    ]);
  });

  it('login: 10 per 15 minutes per (IP, email); the 11th is RATE_LIMITED before any password check', async () => {
    const t = await app({ RATE_LIMITS: '' });
    const verify = vi.spyOn(t.app.services.hasher, 'verify');
    try {
      // An unknown email: the dummy hash is verified each time.
      for (let i = 0; i < 10; i++) expect(codeOf(await login(t, 'login-default@example.com'))).toBe('UNAUTHENTICATED');
      expect(verify).toHaveBeenCalledTimes(10);
      const eleventh = await login(t, 'login-default@example.com');
      expectRateLimited(eleventh);
      expect(eleventh.body.errors![0]!.extensions.retryAfter).toBeGreaterThan(14 * 60);
      expect(verify).toHaveBeenCalledTimes(10);
    } finally {
      verify.mockRestore();
    }
  });
});

describe('the per-IP login limit', () => {
  it('counts attempts across different emails', async () => {
    const t = await app({ RATE_LIMITS: 'login=10/15m:IP+EMAIL,6/15m:IP' });
    const verify = vi.spyOn(t.app.services.hasher, 'verify');
    const codes: Array<string | undefined> = [];
    try {
      for (let i = 0; i < 8; i++) codes.push(codeOf(await login(t, `per-ip-${i}@example.com`)));
      expect(verify).toHaveBeenCalledTimes(6);
    } finally {
      verify.mockRestore();
    }
    expect(codes).toEqual([...Array(6).fill('UNAUTHENTICATED'), 'RATE_LIMITED', 'RATE_LIMITED']);
    // Not even a new email gets through from this address.
    expectRateLimited(await login(t, 'per-ip-fresh@example.com'));
  });
});

describe('the window', () => {
  it('lifts the limit once its 15 minutes have passed, not before', async () => {
    const t = await app({ RATE_LIMITS: 'login=3/15m:IP+EMAIL' });
    const email = 'window@example.com';
    for (let i = 0; i < 3; i++) expect(codeOf(await login(t, email))).toBe('UNAUTHENTICATED');
    const limited = await login(t, email);
    expectRateLimited(limited);
    expect(limited.body.errors![0]!.extensions.retryAfter).toBeLessThanOrEqual(15 * 60);
    expect(limited.body.errors![0]!.extensions.retryAfter).toBeGreaterThan(14 * 60);
    // The in-process counters read Date.now(); only Date is faked, timers and sockets run as usual.
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    try {
      vi.setSystemTime(Date.now() + 14 * 60_000);
      const stillLimited = await login(t, email);
      expectRateLimited(stillLimited);
      expect(stillLimited.body.errors![0]!.extensions.retryAfter).toBeLessThanOrEqual(60);
      vi.setSystemTime(Date.now() + 60_000 + 1000);
      expect(codeOf(await login(t, email))).toBe('UNAUTHENTICATED');
    } finally {
      vi.useRealTimers();
    }
  });
});
