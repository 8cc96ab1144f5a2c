import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { fastHashing, startTestApp, type TestApp } from '../helpers/app.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { metric } from '../helpers/metrics.ts';
import { failuresOf, relaxedThrottle } from '../helpers/throttle.ts';
import { connectWs, type WsConnection } from '../../scripts/ws-connection.ts';

// Checklist 7: "Thirty `login` operations sent one after another over one WebSocket -> the same
// per-account and per-IP limits as over HTTP; `RATE_LIMITED` once past the limit."
// Issue 3, acceptance: "30 `login` operations over one graphql-ws socket hit the same limit as over HTTP".
// The per-address password throttle is relaxed here, so every refusal seen is the rate limit's.

const LOGIN = `mutation($input: LoginInput!) { login(input: $input) { token } }`;
const PASSWORD = 'correct horse battery';

let db: TestDatabase;
const apps: TestApp[] = [];
const sockets: WsConnection[] = [];
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  try {
    for (const s of sockets) await s.dispose();
    for (const app of apps) await app.close();
  } finally {
    await db.drop();
  }
});

async function app(rateLimits: string): Promise<TestApp> {
  const started = await startTestApp({ db, env: { RATE_LIMITS: rateLimits }, configure: (c) => relaxedThrottle(fastHashing(c)) });
  apps.push(started);
  return started;
}
function socket(t: TestApp, headers?: Record<string, string>): WsConnection {
  const ws = connectWs(t.url, { headers });
  sockets.push(ws);
  return ws;
}
const wsLogin = (ws: WsConnection, email: string, password = 'wrong password') => ws.request(LOGIN, { input: { email, password } });
const codeOf = (r: { errors?: any[] }) => r.errors?.[0]?.extensions?.code as string | undefined;

describe('checklist 7: thirty login operations over one WebSocket', () => {
  it('hit the per-account limit of HTTP: 10 evaluated, 20 RATE_LIMITED with retryAfter', async () => {
    const t = await app('login=10/15m:IP+EMAIL');
    const email = 'ws-thirty@example.com';
    await t.register(email, PASSWORD);
    const ws = socket(t);
    const verify = vi.spyOn(t.app.services.hasher, 'verify');
    const codes: Array<string | undefined> = [];
    try {
      for (let i = 0; i < 30; i++) {
        const r = await wsLogin(ws, email);
        codes.push(codeOf(r));
        if (codeOf(r) === 'RATE_LIMITED') {
          expect(r.errors![0].extensions.retryAfter).toBeGreaterThan(0);
          expect(r.data?.login ?? null).toBeNull();
        }
      }
      expect(verify).toHaveBeenCalledTimes(10);
    } finally {
      verify.mockRestore();
    }
    expect(codes).toEqual([...Array(10).fill('UNAUTHENTICATED'), ...Array(20).fill('RATE_LIMITED')]);
    // Even the right password is refused once past the limit, and no session is opened.
    expect(codeOf(await wsLogin(ws, email, PASSWORD))).toBe('RATE_LIMITED');
    // Exactly ten failures were counted: the refused attempts never reached the password check.
    expect(await failuresOf(db, email)).toBe(10);
    expect(await db.query(`SELECT 1 FROM "Session" s JOIN "User" u ON u.id = s."userId" WHERE u.email = $1`, [email])).toHaveLength(1);
    expect(await metric(t, 'portcullis_rate_limited_total', { operation: 'login' })).toBe(21);
  });

  it('share the counter with HTTP: 5 over HTTP, then 10 over the socket -> the last 5 are RATE_LIMITED', async () => {
    const t = await app('login=10/15m:IP+EMAIL');
    const email = 'ws-shared@example.com';
    for (let i = 0; i < 5; i++) {
      const r = await t.gql(LOGIN, { input: { email, password: 'wrong password' } });
      expect(r.body.errors?.[0]?.extensions.code).toBe('UNAUTHENTICATED');
    }
    const ws = socket(t);
    const codes: Array<string | undefined> = [];
    for (let i = 0; i < 10; i++) codes.push(codeOf(await wsLogin(ws, email)));
    expect(codes).toEqual([...Array(5).fill('UNAUTHENTICATED'), ...Array(5).fill('RATE_LIMITED')]);
    // And back over HTTP the limit holds.
    const http = await t.gql(LOGIN, { input: { email, password: 'wrong password' } });
    expect(http.status).toBe(429);
    expect(http.body.errors?.[0]?.extensions.code).toBe('RATE_LIMITED');
  });

  it('hit the per-IP limit across emails and across sockets, whatever X-Forwarded-For says', async () => {
    const t = await app('login=10/15m:IP+EMAIL,6/15m:IP');
    const verify = vi.spyOn(t.app.services.hasher, 'verify');
    const codes: Array<string | undefined> = [];
    try {
      const first = socket(t, { 'x-forwarded-for': '198.51.100.1' });
      for (let i = 0; i < 4; i++) codes.push(codeOf(await wsLogin(first, `ws-ip-${i}@example.com`)));
      // A new socket claiming another address (no TRUST_PROXY) is still the same client.
      const second = socket(t, { 'x-forwarded-for': '198.51.100.2' });
      for (let i = 4; i < 8; i++) codes.push(codeOf(await wsLogin(second, `ws-ip-${i}@example.com`)));
      expect(verify).toHaveBeenCalledTimes(6);
    } finally {
      verify.mockRestore();
    }
    expect(codes).toEqual([...Array(6).fill('UNAUTHENTICATED'), 'RATE_LIMITED', 'RATE_LIMITED']);
  });
});
