import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { codeOf, startTestApp, type GqlResult, type TestApp } from '../helpers/app.ts';
import { freePort } from '../../scripts/free-port.ts';
import { metric } from '../helpers/metrics.ts';

// Checklist 43: "Redis down during `login` -> the service keeps answering with the documented
// policy (fail closed to in-process limits, never unlimited guessing); it recovers when Redis
// returns." Issue 3, acceptance: "Redis stopped in the middle of a test (a separate redis-server
// started by the test on its own port, then killed): logins still answer and are still limited;
// nothing crashes."

const LOGIN = `mutation($input: LoginInput!) { login(input: $input) { token } }`;
const PREFIX = `test:${randomUUID()}:`;
const UNAVAILABLE = /rate limits: Redis unavailable/;
const ANSWERS_AGAIN = /rate limits: Redis answers again/;

let port: number;
let server: ChildProcess | undefined;
let t: TestApp | undefined;

/** A throwaway redis-server without persistence; resolves once it accepts connections. */
async function startRedis(): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no', '--bind', '127.0.0.1'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${output}`)), 10_000);
    const onData = (d: Buffer) => {
      output += d;
      if (/Ready to accept connections/.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited (${code}):\n${output}`));
    });
  });
  child.stdout!.resume();
  child.stderr!.resume();
  return child;
}

async function killRedis(): Promise<void> {
  const child = server;
  server = undefined;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/** Keys this app's limiter wrote into the redis-server on `port`. */
async function limiterKeys(): Promise<string[]> {
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
  try {
    await client.connect();
    return await client.keys(`${PREFIX}rl:login:*`);
  } finally {
    client.disconnect();
  }
}

beforeAll(async () => {
  port = await freePort();
  server = await startRedis();
  t = await startTestApp({
    env: { REDIS_URL: `redis://127.0.0.1:${port}`, REDIS_PREFIX: PREFIX, RATE_LIMITS: 'login=3/15m:IP+EMAIL' },
  });
});
afterAll(async () => {
  try {
    server?.kill('SIGCONT');
    await t?.close();
  } finally {
    await killRedis();
  }
});

/** A wrong-password login that must answer (no 500) within 3 seconds. */
async function timedLogin(email: string): Promise<GqlResult> {
  const started = performance.now();
  const r = await t!.gql(LOGIN, { input: { email, password: 'wrong password' } });
  expect(performance.now() - started).toBeLessThan(3000);
  expect(r.status).not.toBe(500);
  return r;
}
const logLines = (pattern: RegExp) => t!.logs.filter((l) => pattern.test(l));

describe('checklist 43: Redis down during login', () => {
  it('keeps answering, fails closed to in-process limits, logs once, counts the fallback, and recovers', async () => {
    const email = 'outage@example.com';
    await t!.register(email);
    for (let i = 0; i < 2; i++) expect(codeOf(await timedLogin(email))).toBe('UNAUTHENTICATED');
    expect(await limiterKeys()).not.toHaveLength(0);
    expect(await metric(t!, 'portcullis_rate_limit_fallback_total')).toBe(0);
    expect(logLines(UNAVAILABLE)).toHaveLength(0);

    await killRedis();

    // In process the attempts are counted again from zero, but still counted: at most 3 more
    // passwords are checked, then RATE_LIMITED, never unlimited guessing.
    const verify = vi.spyOn(t!.app.services.hasher, 'verify');
    const codes: Array<string | undefined> = [];
    try {
      for (let i = 0; i < 6; i++) codes.push(codeOf(await timedLogin(email)));
      expect(verify.mock.calls.length).toBeLessThanOrEqual(3);
    } finally {
      verify.mockRestore();
    }
    const firstLimited = codes.indexOf('RATE_LIMITED');
    expect(firstLimited).toBeGreaterThanOrEqual(0);
    expect(firstLimited).toBeLessThanOrEqual(3);
    expect(codes.slice(firstLimited).every((c) => c === 'RATE_LIMITED')).toBe(true);
    expect(codes.slice(0, firstLimited).every((c) => c === 'UNAUTHENTICATED')).toBe(true);
    const limited = await timedLogin(email);
    expect(limited.status).toBe(429);
    expect(limited.body.errors![0]!.extensions.retryAfter).toBeGreaterThan(0);

    expect(await metric(t!, 'portcullis_rate_limit_fallback_total')).toBeGreaterThan(0);
    // Seven requests went through the fallback; the outage is logged once, as an error.
    const unavailable = logLines(UNAVAILABLE);
    expect(unavailable).toHaveLength(1);
    expect(JSON.parse(unavailable[0]!).level).toBe(50);
    expect((await fetch(`${t!.url}/health`)).status).toBe(200);

    // Redis comes back on the same port: the client reconnects and the limiter counts there again.
    server = await startRedis();
    await vi.waitFor(
      async () => {
        const ready = (await (await fetch(`${t!.url}/ready`)).json()) as { checks: { redis: string } };
        expect(ready.checks.redis).toBe('ok');
      },
      { timeout: 10_000, interval: 200 },
    );
    expect(await limiterKeys()).toHaveLength(0);
    const fallbacks = await metric(t!, 'portcullis_rate_limit_fallback_total');
    expect(codeOf(await timedLogin('after-outage@example.com'))).toBe('UNAUTHENTICATED');
    expect(logLines(ANSWERS_AGAIN)).toHaveLength(1);
    expect(JSON.parse(logLines(ANSWERS_AGAIN)[0]!).level).toBe(30);
    expect(await limiterKeys()).toHaveLength(1);
    expect(await metric(t!, 'portcullis_rate_limit_fallback_total')).toBe(fallbacks);
    expect(logLines(UNAVAILABLE)).toHaveLength(1);

    // And the limits hold in Redis again: 3 attempts for the new email, then RATE_LIMITED.
    for (let i = 0; i < 2; i++) expect(codeOf(await timedLogin('after-outage@example.com'))).toBe('UNAUTHENTICATED');
    expect(codeOf(await timedLogin('after-outage@example.com'))).toBe('RATE_LIMITED');
    expect(await metric(t!, 'portcullis_rate_limit_fallback_total')).toBe(fallbacks);
  });

  it('a Redis that hangs (SIGSTOP) instead of closing: logins still answer within 3 s and are still limited', async () => {
    const email = 'hang@example.com';
    expect(codeOf(await timedLogin(email))).toBe('UNAUTHENTICATED');
    const fallbacks = await metric(t!, 'portcullis_rate_limit_fallback_total');
    const verify = vi.spyOn(t!.app.services.hasher, 'verify');
    const codes: Array<string | undefined> = [];
    server!.kill('SIGSTOP');
    try {
      for (let i = 0; i < 5; i++) codes.push(codeOf(await timedLogin(email)));
      expect(verify.mock.calls.length).toBeLessThanOrEqual(3);
    } finally {
      server!.kill('SIGCONT');
      verify.mockRestore();
    }
    expect(codes.at(-1)).toBe('RATE_LIMITED');
    expect(codes.filter((c) => c === 'UNAUTHENTICATED').length).toBeLessThanOrEqual(3);
    expect(await metric(t!, 'portcullis_rate_limit_fallback_total')).toBeGreaterThan(fallbacks);
    // A second outage is logged once more; the answer after it is counted in Redis again.
    expect(logLines(UNAVAILABLE)).toHaveLength(2);
    await vi.waitFor(
      async () => {
        expect(codeOf(await timedLogin('after-hang@example.com'))).toBe('UNAUTHENTICATED');
        expect(logLines(ANSWERS_AGAIN)).toHaveLength(2);
      },
      { timeout: 5000, interval: 100 },
    );
  });
});
