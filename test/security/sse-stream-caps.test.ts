import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, expect, it, vi } from 'vitest';
import { defaultRealtimeLimits } from '../../src/config/policies.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { SESSION_REVOKED, login, untilSubscribed } from '../helpers/realtime.ts';
import { eventually } from '../helpers/eventually.ts';
import { connectWs } from '../../scripts/ws-connection.ts';

// SECURITY-CHECKLIST.md items 53 and 54, for what one SSE stream or one client address can grow:
// operations per single-connection stream (open at once, and over the stream's life, refused ones
// included: graphql-sse keeps the id of each), distinct-connection streams per client address, and
// the error model of results streamed on a distinct connection. TRUST_PROXY lets X-Forwarded-For
// stand for many client addresses; Redis carries an event another instance could publish.

const TOKEN_HEADER = 'x-graphql-event-stream-token';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const REVOKE = `mutation($id: ID!) { revokeSession(id: $id) }`;
const prefix = `test:${randomUUID()}:`;
const limits = defaultRealtimeLimits;
let t: TestApp;
const cleanup: Array<() => unknown> = [];

beforeAll(async () => {
  t = await startTestApp({ env: { TRUST_PROXY: '127.0.0.1', REDIS_URL: 'redis://127.0.0.1:6379', REDIS_PREFIX: prefix } });
});
afterEach(() => vi.restoreAllMocks());
afterAll(async () => {
  for (const stop of cleanup) await stop();
  t.app.server.closeAllConnections();
  await t.close();
});

interface Stream {
  status: number;
  headers: Headers;
  /** Everything the stream has carried so far (or the body of a refusal). */
  text(): string;
  close(): void;
}

/** Reads a response that may be an event stream, in the background, until `close`. */
async function readStream(request: (signal: AbortSignal) => Promise<Response>): Promise<Stream> {
  const control = new AbortController();
  const response = await request(control.signal);
  let text = '';
  const done = (async () => {
    for await (const chunk of response.body!) text += Buffer.from(chunk).toString();
  })().catch(() => {});
  cleanup.push(() => control.abort());
  if (!response.headers.get('content-type')?.includes('text/event-stream')) await done;
  return { status: response.status, headers: response.headers, text: () => text, close: () => control.abort() };
}

/** A single-connection stream: PUT reserves it, GET opens it. */
async function openSingle(ip: string) {
  const token = await (await fetch(`${t.url}/graphql`, { method: 'PUT', headers: { 'x-forwarded-for': ip } })).text();
  const stream = await readStream((signal) =>
    fetch(`${t.url}/graphql`, { headers: { 'x-forwarded-for': ip, accept: 'text/event-stream', [TOKEN_HEADER]: token }, signal }),
  );
  expect(stream.status).toBe(200);
  return { token, ...stream };
}

/** An operation on the single-connection stream of `token`. */
async function onStream(token: string, query: string, operationId: unknown, bearer?: string) {
  const r = await fetch(`${t.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', [TOKEN_HEADER]: token, ...(bearer && { authorization: `Bearer ${bearer}` }) },
    body: JSON.stringify({ query, extensions: { operationId } }),
  });
  const text = await r.text();
  return { status: r.status, retryAfter: r.headers.get('retry-after'), errors: r.status === 202 ? [] : JSON.parse(text).errors };
}

/** A distinct-connection stream (POST, Accept: text/event-stream), served by yoga itself. */
const openDistinct = (ip: string, query: string, bearer: string) =>
  readStream((signal) =>
    fetch(`${t.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', 'x-forwarded-for': ip, authorization: `Bearer ${bearer}` },
      body: JSON.stringify({ query }),
      signal,
    }),
  );

/** The payloads of the `next` events a stream has carried (for operation `id` on a single-connection one). */
function nextPayloads(text: string, id?: string): Array<{ id?: string; data?: any; errors?: Array<{ message: string; extensions: Record<string, any> }> }> {
  const events = [...text.matchAll(/^event: next\ndata: (.*)$/gm)].map((match) => JSON.parse(match[1]!));
  return id === undefined ? events : events.filter((event) => event.id === id).map((event) => event.payload);
}
const revokedIds = (payloads: ReturnType<typeof nextPayloads>) => payloads.map((p) => p.data?.sessionRevoked?.sessionId);

/** API.md's envelope of a RATE_LIMITED refusal, logged once by the error completer. */
function expectRateLimited(answer: { status: number; retryAfter: string | null; errors: any[] }) {
  expect(answer.status).toBe(429);
  expect(answer.retryAfter).toBe('1');
  expect(answer.errors).toEqual([
    { message: expect.any(String), extensions: { code: 'RATE_LIMITED', retryAfter: 1, requestId: expect.stringMatching(UUID), http: { status: 429 } } },
  ]);
  expect(completerLines(answer.errors[0].extensions.requestId)).toEqual([expect.objectContaining({ errorCode: 'RATE_LIMITED' })]);
}
const completerLines = (requestId: string) =>
  t.logs.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.msg === 'request error' && line.requestId === requestId);

function watchWork() {
  return { authenticate: vi.spyOn(t.app.services.sessions, 'authenticate'), feeds: vi.spyOn(t.app.services.revocationFeed, 'revocationsFor') };
}

it(`53. One single-connection stream holds at most ${limits.maxOpenOperationsPerSseStream} open operations: the next POST gets 429 RATE_LIMITED, nothing prepared, the others stay live; a DELETE gives a place back`, async () => {
  const email = 'open-caps@example.com';
  const user = await t.register(email);
  const stream = await openSingle('198.51.100.1');
  const live = Array.from({ length: limits.maxOpenOperationsPerSseStream }, (_, i) => `live-${i}`);
  for (const id of live) expect((await onStream(stream.token, SESSION_REVOKED, id, user.token)).status).toBe(202);

  const work = watchWork();
  for (const query of [SESSION_REVOKED, '{ __typename }']) expectRateLimited(await onStream(stream.token, query, `past-${query.length}`, user.token));
  // An operation sent by GET (its parameters in the URL) is counted alike.
  const byGet = await fetch(`${t.url}/graphql?query=${encodeURIComponent('{ __typename }')}&extensions=${encodeURIComponent('{"operationId":"past-get"}')}`, {
    headers: { [TOKEN_HEADER]: stream.token, authorization: `Bearer ${user.token}` },
  });
  expectRateLimited({ status: byGet.status, retryAfter: byGet.headers.get('retry-after'), errors: (await byGet.json()).errors });
  for (const spy of Object.values(work)) expect(spy).not.toHaveBeenCalled();

  // The twenty are still live: revocations of other sessions reach every one of them.
  const seen = await untilSubscribed(
    t,
    email,
    live.map((id) => (ids: string[]) => revokedIds(nextPayloads(stream.text(), id)).some((s) => ids.includes(s))),
  );
  expect(seen.length).toBeGreaterThan(0);
  expect(nextPayloads(stream.text()).filter((event) => `${event.id}`.startsWith('past'))).toEqual([]);

  // graphql-sse's client unsubscribes with DELETE: the place is given back.
  expect((await fetch(`${t.url}/graphql?operationId=live-0`, { method: 'DELETE', headers: { [TOKEN_HEADER]: stream.token } })).status).toBe(200);
  await eventually(() => stream.text().includes('"id":"live-0"}'), 'live-0 to complete');
  expect((await onStream(stream.token, SESSION_REVOKED, 'after-delete', user.token)).status).toBe(202);
  expectRateLimited(await onStream(stream.token, SESSION_REVOKED, 'past-again', user.token));
});

it(`53. A single-connection stream runs at most ${limits.maxOperationsPerSseStreamLifetime} operations over its life, refused ones included; then 429 RATE_LIMITED, and a new stream is served`, async () => {
  const ip = '198.51.100.2';
  const user = await t.register('lifetime-caps@example.com');
  const stream = await openSingle(ip);
  // Completed operations give their place back: more than twenty in a row all run.
  for (let i = 0; i < 30; i++) expect((await onStream(stream.token, '{ __typename }', `ok-${i}`)).status).toBe(202);
  await eventually(() => nextPayloads(stream.text()).length === 30, 'thirty results');
  // Operations refused at validation, each under a fresh id (graphql-sse keeps every id it was sent).
  const statuses: number[] = [];
  for (let i = 30; i < limits.maxOperationsPerSseStreamLifetime; i += 10) {
    const batch = Array.from({ length: Math.min(10, limits.maxOperationsPerSseStreamLifetime - i) }, (_, j) =>
      onStream(stream.token, '{ nope }', `refused-${i + j}`),
    );
    statuses.push(...(await Promise.all(batch)).map((answer) => answer.status));
  }
  expect(statuses).toEqual(Array(limits.maxOperationsPerSseStreamLifetime - 30).fill(400));

  const work = watchWork();
  const past = await onStream(stream.token, '{ __typename }', 'one-too-many', user.token);
  expectRateLimited(past);
  expect(past.errors[0].message).toMatch(/new stream/);
  await new Promise((r) => setTimeout(r, 50));
  expect(nextPayloads(stream.text(), 'one-too-many')).toEqual([]);
  expect(work.authenticate).not.toHaveBeenCalled();

  // The client opens a new stream, from the same address.
  const fresh = await openSingle(ip);
  expect((await onStream(fresh.token, '{ __typename }', 'first')).status).toBe(202);
  await eventually(() => nextPayloads(fresh.text(), 'first').length === 1, 'the result on the new stream');
});

it('53. An operation id longer than 128 characters, of whatever JSON type, or with no string form -> 400 BAD_USER_INPUT; nothing runs', async () => {
  const stream = await openSingle('198.51.100.3');
  for (const id of ['i'.repeat(129), ['x'.repeat(5000)], { toString: 1, valueOf: 1 }]) {
    const answer = await onStream(stream.token, '{ __typename }', id);
    expect(answer.status).toBe(400);
    expect(answer.errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', requestId: expect.stringMatching(UUID) });
  }
  expect((await onStream(stream.token, '{ __typename }', 'i'.repeat(128))).status).toBe(202);
  await eventually(() => nextPayloads(stream.text()).length === 1, 'the result of the 128-character id');
  expect(nextPayloads(stream.text())[0]!.id).toBe('i'.repeat(128));
});

it(`54. Distinct-connection SSE streams: at most ${limits.maxDistinctSseStreamsPerAddress} per client address (IPv6 by /64), then 429 RATE_LIMITED before anything runs; other addresses are served; a closed stream gives its place back`, async () => {
  const email = 'distinct-caps@example.com';
  const user = await t.register(email);
  const ip = '198.51.100.4';
  const streams: Stream[] = [];
  for (let i = 0; i < limits.maxDistinctSseStreamsPerAddress; i++) streams.push(await openDistinct(ip, SESSION_REVOKED, user.token));
  expect(streams.map((s) => s.status)).toEqual(Array(limits.maxDistinctSseStreamsPerAddress).fill(200));

  const work = watchWork();
  const refused = await openDistinct(ip, SESSION_REVOKED, user.token);
  expectRateLimited({ status: refused.status, retryAfter: refused.headers.get('retry-after'), errors: JSON.parse(refused.text()).errors });
  for (const spy of Object.values(work)) expect(spy).not.toHaveBeenCalled();
  vi.restoreAllMocks();

  const elsewhere = await openDistinct('198.51.100.5', SESSION_REVOKED, user.token);
  expect(elsewhere.status).toBe(200);
  // The ten stay live.
  await untilSubscribed(
    t,
    email,
    [...streams, elsewhere].map((s) => (ids: string[]) => revokedIds(nextPayloads(s.text())).some((id) => ids.includes(id))),
  );

  // One /64 is one client, however many of its addresses it uses.
  const v6 = [];
  for (let i = 1; i <= limits.maxDistinctSseStreamsPerAddress; i++) v6.push(await openDistinct(`2001:db8:9:8:${i}::1`, SESSION_REVOKED, user.token));
  expect(v6.map((s) => s.status)).toEqual(Array(limits.maxDistinctSseStreamsPerAddress).fill(200));
  expect((await openDistinct('2001:db8:9:8:ffff::2', SESSION_REVOKED, user.token)).status).toBe(429);
  expect((await openDistinct('2001:db8:9:7::1', SESSION_REVOKED, user.token)).status).toBe(200);

  streams[0]!.close();
  await eventually(async () => {
    const again = await openDistinct(ip, '{ __typename }', user.token);
    return again.status === 200;
  }, 'the closed stream to give its place back');
});

it('54. An error streamed in a `next` event of a distinct-connection stream passes the error completer: code, requestId and http.status as on HTTP and the WebSocket; the cause is logged once', async () => {
  const email = 'streamed-error@example.com';
  const user = await t.register(email);
  const other = await login(t, email);
  const stream = await openDistinct('198.51.100.6', SESSION_REVOKED, user.token);
  const ws = connectWs(t.url, { token: other.token });
  cleanup.push(() => ws.dispose());
  const wsPayloads: any[] = [];
  ws.client.subscribe({ query: SESSION_REVOKED }, { next: (v) => void wsPayloads.push(v), error: () => {}, complete: () => {} });
  await untilSubscribed(t, email, [
    (ids) => revokedIds(nextPayloads(stream.text())).some((id) => ids.includes(id)),
    (ids) => wsPayloads.some((p) => ids.includes(p.data?.sessionRevoked?.sessionId)),
  ]);

  // Another instance (a newer release, say) publishes a reason this one cannot represent.
  const publisher = new Redis('redis://127.0.0.1:6379');
  cleanup.push(() => publisher.quit());
  const wire = { sessionId: randomUUID(), userId: user.userId, reason: 'FROM_A_NEWER_RELEASE', revokedAt: new Date().toISOString() };
  await publisher.publish(`${prefix}session-revoked:${user.userId}`, JSON.stringify(wire));
  await eventually(() => nextPayloads(stream.text()).some((p) => p.errors) && wsPayloads.some((p) => p.errors), 'the error on both transports');

  const payload = nextPayloads(stream.text()).find((p) => p.errors)!;
  const wsPayload = wsPayloads.find((p) => p.errors);
  expect(payload).toEqual({ data: null, errors: [expect.objectContaining({ message: 'Unexpected error.', path: ['sessionRevoked', 'reason'] })] });
  // API.md's envelope, as HTTP and the WebSocket give it: code, requestId (the stream's) and http.status.
  const requestId = stream.headers.get('x-request-id')!;
  expect(payload.errors![0]!.extensions).toEqual({ code: 'INTERNAL_SERVER_ERROR', requestId, http: { status: 500 } });
  expect(wsPayload.errors[0].extensions).toMatchObject({ code: 'INTERNAL_SERVER_ERROR', http: { status: 500 } });
  // The cause is logged once, under the stream's request id, and never sent.
  const causes = t.logs.filter((line) => line.includes('"msg":"unexpected error"') && line.includes(requestId));
  expect(causes).toHaveLength(1);
  expect(causes[0]).toContain('FROM_A_NEWER_RELEASE');
  expect(stream.text()).not.toContain('FROM_A_NEWER_RELEASE');
  // The stream goes on: a later revocation still arrives.
  const later = await login(t, email);
  await t.gql(REVOKE, { id: later.sessionId }, { token: other.token });
  await eventually(() => revokedIds(nextPayloads(stream.text())).includes(later.sessionId), 'the next revocation');
});
