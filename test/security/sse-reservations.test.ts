import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { defaultRealtimeLimits } from '../../src/config/policies.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { eventually } from '../helpers/eventually.ts';
import { subscribeSse } from '../helpers/sse.ts';

// SECURITY-CHECKLIST.md item 53: single-connection SSE reservations (graphql-sse's PUT) are capped
// per client address and expire when not connected; stream tokens come from a cryptographic
// generator. TRUST_PROXY lets X-Forwarded-For stand for many client addresses.

const TTL_MS = 400;
const TOKEN_HEADER = 'x-graphql-event-stream-token';
let t: TestApp;
/** Open streams; their responses are held too (fetch cancels the body of a collected response). */
const streams: Array<{ control: AbortController; response: Response }> = [];

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
/** The heap in MB once garbage is collected. */
function heapMb(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

beforeAll(async () => {
  t = await startTestApp({
    env: { TRUST_PROXY: '127.0.0.1' },
    configure: (config) => ({ ...config, realtimeLimits: { ...config.realtimeLimits, sseReservationTtlMs: TTL_MS } }),
  });
});
afterAll(async () => {
  for (const s of streams) s.control.abort();
  t.app.server.closeAllConnections();
  await t.close();
});

const from = (ip: string) => ({ 'x-forwarded-for': ip });
const reserve = (app: TestApp, ip: string, headers: Record<string, string> = {}) =>
  fetch(`${app.url}/graphql`, { method: 'PUT', headers: { ...from(ip), ...headers } });
async function reserved(app: TestApp, ip: string): Promise<string> {
  const r = await reserve(app, ip);
  expect(r.status).toBe(201);
  return r.text();
}
/** Opens the stream of `token` (GET, Accept: text/event-stream) and keeps it open until aborted. */
async function openStream(token: string, ip = '203.0.113.250'): Promise<{ status: number; body: string | null; abort(): void }> {
  const control = new AbortController();
  const r = await fetch(`${t.url}/graphql`, { headers: { ...from(ip), accept: 'text/event-stream', [TOKEN_HEADER]: token }, signal: control.signal });
  streams.push({ control, response: r });
  const body = r.ok ? null : await r.text();
  return { status: r.status, body, abort: () => control.abort() };
}
const operate = (token: string, query = '{ __typename }') =>
  fetch(`${t.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', [TOKEN_HEADER]: token },
    body: JSON.stringify({ query, extensions: { operationId: '1' } }),
  });
async function errorOf(r: Response) {
  const body = (await r.json()) as { errors: Array<{ message: string; extensions: Record<string, any> }> };
  expect(body.errors).toHaveLength(1);
  return { status: r.status, code: body.errors[0]!.extensions.code, retryAfter: body.errors[0]!.extensions.retryAfter };
}

it('53. Stream tokens are minted by the server from 32 random bytes, whatever token the caller names; the graphql-sse client still works', async () => {
  const tokens = new Set<string>();
  for (let i = 0; i < 10; i++) tokens.add(await reserved(t, `198.51.100.${i}`));
  const chosen = 'a'.repeat(8000);
  const r = await reserve(t, '198.51.100.20', { [TOKEN_HEADER]: chosen });
  expect(r.status).toBe(201);
  tokens.add(await r.text());
  expect(tokens.size).toBe(11);
  for (const token of tokens) {
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(token, 'base64url')).toHaveLength(32);
  }
  expect(tokens.has(chosen)).toBe(false);

  // The real client in single-connection mode: PUT, open the stream, run an operation on it.
  const client = subscribeSse(t.url, '{ __typename }', { singleConnection: true });
  await client.ended;
  expect(client.events).toEqual([{ __typename: 'Query' }]);
  client.dispose();
});

it('53. Past 10 streams (reserved or open) per client address -> 429 RATE_LIMITED with retryAfter, nothing reserved; other addresses, and other IPv6 /64s, are unaffected', async () => {
  const ip = '198.51.100.30';
  const mine = [];
  for (let i = 0; i < 10; i++) mine.push(await reserved(t, ip));
  const refused = await reserve(t, ip);
  // retryAfter: the lifetime of a reservation, in whole seconds.
  expect(refused.headers.get('retry-after')).toBe('1');
  expect(await errorOf(refused)).toEqual({ status: 429, code: 'RATE_LIMITED', retryAfter: 1 });
  expect((await reserve(t, '198.51.100.31')).status).toBe(201);

  // An open stream still counts; closing it gives its place back.
  const stream = await openStream(mine[0]!);
  expect(stream.status).toBe(200);
  await new Promise((r) => setTimeout(r, TTL_MS * 2)); // the other nine expire, the open one stays
  for (let i = 0; i < 9; i++) await reserved(t, ip);
  expect((await reserve(t, ip)).status).toBe(429);
  stream.abort();
  await eventually(async () => (await reserve(t, ip)).status === 201, 'the closed stream to give its place back');

  // IPv6: one /64 is one client, however many of its addresses it uses.
  for (let i = 1; i <= 10; i++) await reserved(t, `2001:db8:1:2:${i.toString(16)}::${i}`);
  expect((await reserve(t, '2001:db8:1:2:ffff:ffff:ffff:ffff')).status).toBe(429);
  expect((await reserve(t, '2001:db8:1:3::1')).status).toBe(201);
});

it('53. A reservation not connected within its lifetime is released (an open stream is not); operations on it then get 404 NOT_FOUND', async () => {
  const idle = await reserved(t, '198.51.100.40');
  const kept = await reserved(t, '198.51.100.40');
  const stream = await openStream(kept);
  expect(stream.status).toBe(200);
  expect((await operate(idle)).status).toBe(202); // queued on the reservation, allowed by the protocol
  await new Promise((r) => setTimeout(r, TTL_MS + 200));

  expect(await errorOf(await operate(idle))).toMatchObject({ status: 404, code: 'NOT_FOUND' });
  const late = await openStream(idle);
  expect(late.status).toBe(404);
  expect(JSON.parse(late.body!).errors[0].extensions.code).toBe('NOT_FOUND');
  // The open stream outlived the lifetime and still carries operations.
  expect((await operate(kept)).status).toBe(202);
  stream.abort();
});

it('53. Released reservations leave nothing behind in the handler: 3,000 reserved then expired give the heap back', async () => {
  const reserveMany = async (blocks: number) => {
    const tokens: string[] = [];
    for (let block = 0; block < blocks; block++) {
      const ip = `10.53.${block >> 8}.${block & 255}`;
      tokens.push(...(await Promise.all(Array.from({ length: 10 }, () => reserved(t, ip)))));
    }
    return tokens;
  };
  const expiry = () => new Promise((r) => setTimeout(r, TTL_MS + 300));
  await reserveMany(50); // warms up the client's connections and the server's code paths
  await expiry();
  const before = heapMb();
  const tokens = await reserveMany(300);
  const held = heapMb() - before;
  await expiry();
  const after = heapMb() - before;
  console.info(`checklist 53 expiry: heap ${held.toFixed(2)} MB with 3,000 reserved, ${after.toFixed(2)} MB once released`);
  // Dropped from this server's table only, the handler's streams keep about 7 MB here.
  expect(held).toBeGreaterThan(after);
  expect(after).toBeLessThan(2);
  for (const token of tokens.slice(0, 20)) expect((await operate(token)).status).toBe(404);
});

it('53. Caller-chosen tokens that are not ours (8 KB, wrong alphabet) -> 400 BAD_USER_INPUT on every method, nothing stored', async () => {
  const huge = 'k'.repeat(8000);
  for (const token of [huge, 'x', '!'.repeat(43), 'a'.repeat(44)]) {
    expect(await errorOf(await operate(token))).toMatchObject({ status: 400, code: 'BAD_USER_INPUT' });
    const opened = await openStream(token);
    expect({ status: opened.status, code: JSON.parse(opened.body!).errors[0].extensions.code }).toEqual({ status: 400, code: 'BAD_USER_INPUT' });
    const cancelled = await fetch(`${t.url}/graphql?operationId=1`, { method: 'DELETE', headers: { [TOKEN_HEADER]: token } });
    expect(await errorOf(cancelled)).toMatchObject({ status: 400, code: 'BAD_USER_INPUT' });
    const viaQuery = await fetch(`${t.url}/graphql?token=${token}`, { headers: { accept: 'text/event-stream' } });
    expect(await errorOf(viaQuery)).toMatchObject({ status: 400, code: 'BAD_USER_INPUT' });
  }
  // A well-formed token nobody was given.
  expect(await errorOf(await operate('A'.repeat(43)))).toMatchObject({ status: 404, code: 'NOT_FOUND' });
});

it('53. A flood of 1,000 refused reservations (each naming its own 8 KB token) stores nothing and /health keeps answering within 200 ms', async () => {
  const ip = '198.51.100.60';
  // Ten open streams hold the address's places (reservations would expire during the flood).
  for (let i = 0; i < 10; i++) expect((await openStream(await reserved(t, ip), ip)).status).toBe(200);
  const flood = async (from: number, count: number, concurrency = 10) => {
    const statuses: number[] = [];
    for (let i = from; i < from + count; i += concurrency) {
      const batch = Array.from({ length: concurrency }, (_, j) => `${i + j}`.padStart(8000, 'z'));
      statuses.push(
        ...(await Promise.all(batch.map(async (key) => await reserve(t, ip, { [TOKEN_HEADER]: key }).then((r) => r.arrayBuffer().then(() => r.status))))),
      );
    }
    return statuses;
  };
  await flood(0, 200); // warms up the client's connections, so the heap below is the server's
  const before = heapMb();
  let worstHealthMs = 0;
  let flooding = true;
  const probe = (async () => {
    while (flooding) {
      const started = performance.now();
      expect((await fetch(`${t.url}/health`)).status).toBe(200);
      worstHealthMs = Math.max(worstHealthMs, performance.now() - started);
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  const statuses = await flood(1000, 1000);
  flooding = false;
  await probe;
  const grownMb = heapMb() - before;
  console.info(`checklist 53 flood: worst /health ${worstHealthMs.toFixed(1)} ms, heap ${grownMb.toFixed(2)} MB after 1,000 refused`);
  expect(statuses).toEqual(Array(1000).fill(429));
  expect(worstHealthMs).toBeLessThan(200);
  // Stored under the callers' keys (graphql-sse's default), they would take about 10 MB.
  expect(grownMb).toBeLessThan(3);
});

it('53. Reservations not yet opened are capped across all addresses too', async () => {
  const c = await startTestApp({
    db: t.db,
    env: { TRUST_PROXY: '127.0.0.1' },
    configure: (config) => ({ ...config, realtimeLimits: { ...defaultRealtimeLimits, maxSseReservations: 25 } }),
  });
  try {
    for (let i = 0; i < 25; i++) await reserved(c, `192.0.2.${i}`);
    expect(await errorOf(await reserve(c, '192.0.2.200'))).toMatchObject({ status: 429, code: 'RATE_LIMITED' });
  } finally {
    c.app.server.closeAllConnections();
    await c.close();
  }
});
