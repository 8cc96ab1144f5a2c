import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { subscribeSse } from '../helpers/sse.ts';
import { connectWs } from '../../scripts/ws-connection.ts';

// Acceptance of the realtime issue: two instances sharing Redis; subscribers on B over graphql-ws
// and graphql-sse; a revocation on A reaches both, the WebSocket closes with 4403 within a second
// and the SSE stream ends.

const SUBSCRIPTION = `subscription { sessionRevoked { sessionId userId reason revokedAt } }`;
const env = { REDIS_URL: 'redis://127.0.0.1:6379', REDIS_PREFIX: `test:${randomUUID()}:` };
let a: TestApp;
let b: TestApp;

beforeAll(async () => {
  a = await startTestApp({ env });
  b = await startTestApp({ env, db: a.db, clock: a.clock });
});
afterAll(async () => {
  await b.close();
  await a.close();
});

it('delivers a revocation made on instance A to WebSocket and SSE subscribers on instance B, then closes them', async () => {
  const wsUser = await a.register('realtime@example.com');
  const sseSession = await a.gql(`mutation { login(input: { email: "realtime@example.com", password: "correct horse battery" }) { token session { id } } }`);
  const sseToken = sseSession.body.data.login.token as string;
  const sseSessionId = sseSession.body.data.login.session.id as string;

  const ws = connectWs(b.url, { token: wsUser.token });
  const wsEvents: any[] = [];
  ws.client.subscribe({ query: SUBSCRIPTION }, { next: (v) => void wsEvents.push(v.data), error: () => {}, complete: () => {} });
  const sse = subscribeSse(b.url, SUBSCRIPTION, { token: sseToken });
  await new Promise((r) => setTimeout(r, 300)); // both subscriptions registered on B

  // A third session revokes the SSE subscriber's session on instance A.
  const third = await a.gql(`mutation { login(input: { email: "realtime@example.com", password: "correct horse battery" }) { token } }`);
  const revokedAt = Date.now();
  const r = await a.gql(`mutation($id: ID!) { revokeSession(id: $id) }`, { id: sseSessionId }, { token: third.body.data.login.token });
  expect(r.body.data.revokeSession).toBe(true);

  const [sseEvent] = await sse.waitForEvents(1);
  expect(sseEvent.sessionRevoked).toMatchObject({ sessionId: sseSessionId, userId: wsUser.userId, reason: 'REVOKED_BY_USER' });
  await sse.ended; // its own session: the stream ends
  const deadline = Date.now() + 3000;
  while (wsEvents.length < 1 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 10));
  expect(wsEvents[0].sessionRevoked.sessionId).toBe(sseSessionId);

  // Now the WebSocket subscriber's own session: event, then close 4403 within a second.
  const before = Date.now();
  await a.gql(`mutation($id: ID!) { revokeSession(id: $id) }`, { id: wsUser.sessionId }, { token: third.body.data.login.token });
  expect(await ws.closed).toBe(4403);
  expect(Date.now() - before).toBeLessThan(1000);
  expect(wsEvents.map((e) => e.sessionRevoked.sessionId)).toEqual([sseSessionId, wsUser.sessionId]);
  expect(Date.now() - revokedAt).toBeLessThan(5000);
  sse.dispose();
});
