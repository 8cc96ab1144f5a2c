import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { eventually } from '../helpers/eventually.ts';
import { metric } from '../helpers/metrics.ts';
import { SESSION_REVOKED, login, rawSocket, recordWs, untilSubscribed, within } from '../helpers/realtime.ts';
import { subscribeSse, type SseSubscription } from '../helpers/sse.ts';
import { connectWs, type WsConnection } from '../../scripts/ws-connection.ts';

// The realtime transports around the checklist items of test/security/sessions-realtime.test.ts:
// the WebSocket Origin allowlist (API.md, CORS_ORIGINS), the realtime metrics, anonymous
// subscribers, and the error responses of single-connection SSE.

const ME = `{ me { id } }`;
let t: TestApp;
const open: Array<{ dispose(): unknown }> = [];

beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  for (const c of open) await c.dispose();
  // fetch's pooled sockets that never carried a request would hold server.close() for ~4 s.
  t.app.server.closeAllConnections();
  await t.close();
});

function ws(app: TestApp, options: Parameters<typeof connectWs>[1]): WsConnection {
  const c = connectWs(app.url, options);
  open.push(c);
  return c;
}
function sse(token: string | undefined, singleConnection = false): SseSubscription<any> {
  const s = subscribeSse(t.url, SESSION_REVOKED, { token, singleConnection });
  open.push(s);
  return s;
}

it('refuses a WebSocket upgrade whose Origin is outside CORS_ORIGINS, and lets in the allowed origin and clients without one', async () => {
  const user = await t.register('origin@example.com');
  const connections = await metric(t, 'portcullis_websocket_connections');

  const evil = rawSocket(t.url, { headers: { Origin: 'https://evil.example' } });
  await expect(evil.opened).rejects.toMatchObject({ status: 403 });
  const nullOrigin = rawSocket(t.url, { headers: { Origin: 'null' } });
  await expect(nullOrigin.opened).rejects.toMatchObject({ status: 403 });
  // Through the real client: no ack, a connection error, even with a good token.
  const client = ws(t, { token: user.token, headers: { Origin: 'https://evil.example' } });
  let acked = false;
  client.client.on('connected', () => (acked = true));
  expect(await within(client.closed, 3000)).toBe(1006);
  expect(acked).toBe(false);
  expect(await metric(t, 'portcullis_websocket_connections')).toBe(connections);

  for (const headers of [{ Origin: 'http://localhost:4000' }, undefined]) {
    const allowed = ws(t, { token: user.token, headers });
    expect((await allowed.request(ME)).data.me.id).toBe(user.userId);
    await allowed.dispose();
  }

  // The allowlist follows CORS_ORIGINS: the default origin is no longer let in once it is set.
  const custom = await startTestApp({ db: t.db, env: { CORS_ORIGINS: 'https://app.example,https://admin.example' } });
  try {
    const admin = ws(custom, { token: user.token, headers: { Origin: 'https://admin.example' } });
    expect((await admin.request(ME)).data.me.id).toBe(user.userId);
    await admin.dispose();
    await expect(rawSocket(custom.url, { headers: { Origin: 'http://localhost:4000' } }).opened).rejects.toMatchObject({ status: 403 });
  } finally {
    await custom.close();
  }
});

it('counts open WebSocket connections and SSE streams, and the revocation events published and delivered', async () => {
  const email = 'metrics@example.com';
  const user = await t.register(email);
  const sseSession = await login(t, email);
  const sockets = await metric(t, 'portcullis_websocket_connections');
  const streams = await metric(t, 'portcullis_sse_streams');

  const socket = ws(t, { token: user.token });
  const onWs = recordWs(socket);
  const stream = sse(sseSession.token);
  await eventually(async () => (await metric(t, 'portcullis_websocket_connections')) === sockets + 1, 'the socket to be counted');
  await eventually(async () => (await metric(t, 'portcullis_sse_streams')) === streams + 1, 'the stream to be counted');
  const seen = (id: string) => onWs.has(id) && stream.events.some((e) => e.sessionRevoked.sessionId === id);
  const warmUps = await untilSubscribed(t, email, [(ids) => ids.some(onWs.has), (ids) => ids.some((id) => seen(id))]);
  await eventually(() => seen(warmUps.at(-1)!), 'the last warm-up event');

  const published = await metric(t, 'portcullis_session_events_published_total');
  const delivered = await metric(t, 'portcullis_session_events_delivered_total');
  const other = await login(t, email);
  await t.gql(`mutation { logout }`, {}, { token: other.token });
  await eventually(() => seen(other.sessionId), 'the event on both subscriptions');
  expect(await metric(t, 'portcullis_session_events_published_total')).toBe(published + 1);
  await eventually(async () => (await metric(t, 'portcullis_session_events_delivered_total')) === delivered + 2, 'two deliveries to be counted');

  await socket.dispose();
  stream.dispose();
  await eventually(async () => (await metric(t, 'portcullis_websocket_connections')) === sockets, 'the socket to be uncounted');
  await eventually(async () => (await metric(t, 'portcullis_sse_streams')) === streams, 'the stream to be uncounted');
});

it('refuses an anonymous sessionRevoked subscription with UNAUTHENTICATED and opens no stream', async () => {
  const anonymous = ws(t, {});
  const result = await anonymous.request(SESSION_REVOKED);
  expect(result.data).toBeUndefined();
  expect(result.errors?.map((e) => e.extensions.code)).toEqual(['UNAUTHENTICATED']);
  // The connection itself is fine for anonymous operations.
  expect(await anonymous.request(ME)).toEqual({ data: { me: null } });

  const raw = await fetch(`${t.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ query: SESSION_REVOKED }),
  });
  const text = await raw.text();
  expect(raw.status).toBe(401);
  expect(text).toContain('"code":"UNAUTHENTICATED"');
  expect(text).not.toContain('"data"');
  const distinct = sse(undefined);
  await expect(distinct.ended).rejects.toMatchObject({ response: { status: 401 } });
  // Single connection: refused before anything streams (see the report: the status is 400, not 401).
  const single = sse(undefined, true);
  const refusal = await single.ended.then(
    () => null,
    (err) => err.response?.status,
  );
  expect(refusal).toBeGreaterThanOrEqual(400);
  expect(refusal).toBeLessThan(500);
  expect(single.events).toEqual([]);
});

it('answers a refused single-connection SSE operation (dead token, syntax error) with the error model, never a 500 with a stack trace', async () => {
  const user = await t.register('single-sse@example.com');
  const live = await login(t, 'single-sse@example.com');
  await t.gql(`mutation { logout }`, {}, { token: user.token });
  const cases = [
    { token: user.token, query: SESSION_REVOKED, status: 401, code: 'UNAUTHENTICATED' },
    { token: live.token, query: '{ me { ', status: 400, code: 'GRAPHQL_PARSE_FAILED' },
  ];
  for (const { token, query, status, code } of cases) {
    const auth = { authorization: `Bearer ${token}` };
    const reserved = await fetch(`${t.url}/graphql`, { method: 'PUT', headers: auth });
    expect(reserved.status).toBe(201);
    const r = await fetch(`${t.url}/graphql`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json', 'x-graphql-event-stream-token': await reserved.text() },
      body: JSON.stringify({ query, extensions: { operationId: '1' } }),
    });
    const text = await r.text();
    expect({ code, status: r.status, type: r.headers.get('content-type') }).toEqual({ code, status, type: 'application/json; charset=utf-8' });
    expect(text).not.toMatch(/\bat |\.ts:|node_modules/);
    const body = JSON.parse(text);
    expect(body.errors).toHaveLength(1);
    expect(body.errors[0].extensions).toEqual({ code, requestId: expect.any(String), http: { status } });
  }
});
