import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { login, recordWs, within } from '../helpers/realtime.ts';
import { subscribeSse } from '../helpers/sse.ts';
import { connectWs } from '../../scripts/ws-connection.ts';
import { startOwnRedis, type OwnRedis } from '../../scripts/own-redis.ts';

// Issue 21: a revocation made while Redis is down publishes an event nobody hears (here instance B
// revokes and then stops, its pending publishes gone with it). When instance A's subscriber
// connects again, every watched session (WebSockets and SSE streams) is re-checked against the
// database at once: the revoked ones close within 2 s of Redis returning, not at the next 30 s
// sweep. The test kills and restarts a Redis of its own.

const SUBSCRIPTION = `subscription { sessionRevoked { sessionId reason } }`;
let redis: OwnRedis;
let t: TestApp;
let b: TestApp;

beforeAll(async () => {
  redis = await startOwnRedis();
  t = await startTestApp({ env: { REDIS_URL: redis.url } });
  b = await startTestApp({ env: { REDIS_URL: redis.url }, db: t.db, clock: t.clock });
});
afterAll(async () => {
  await t?.close();
  await redis?.stop();
});

const revoke = (id: string, token: string, on = t) => on.gql(`mutation($id: ID!) { revokeSession(id: $id) }`, { id }, { token });

it('closes the WebSocket and ends the SSE stream of sessions revoked during the outage within 2 s of Redis returning', async () => {
  const user = await t.register('outage@example.com');
  const sseSession = await login(t, 'outage@example.com');
  const bystander = await login(t, 'outage@example.com'); // watched, never revoked: stays open
  const admin = await login(t, 'outage@example.com');

  const ws = connectWs(t.url, { token: user.token });
  const recorded = recordWs(ws, SUBSCRIPTION);
  const kept = connectWs(t.url, { token: bystander.token });
  const keptRecorded = recordWs(kept, SUBSCRIPTION);
  const sse = subscribeSse(t.url, SUBSCRIPTION, { token: sseSession.token });
  let sseEnded = false;
  void sse.ended.then(
    () => (sseEnded = true),
    () => (sseEnded = true),
  );
  // Subscribed on every transport: a throwaway revocation reaches all three.
  const probe = await login(t, 'outage@example.com');
  await revoke(probe.sessionId, admin.token);
  await within(sse.waitForEvents(1), 5000, 'the SSE subscription');
  await new Promise((r) => setTimeout(r, 200));
  expect(recorded.has(probe.sessionId) && keptRecorded.has(probe.sessionId)).toBe(true);

  await redis.kill();
  await new Promise((r) => setTimeout(r, 300)); // the app has seen the connection drop
  expect((await revoke(user.sessionId, admin.token, b)).body.data.revokeSession).toBe(true);
  expect((await revoke(sseSession.sessionId, admin.token, b)).body.data.revokeSession).toBe(true);
  const stopping = Date.now();
  await b.close(); // promptly, although Redis is away
  expect(Date.now() - stopping).toBeLessThan(3000);
  await new Promise((r) => setTimeout(r, 500));
  // Nothing was heard meanwhile: both are still open.
  expect(recorded.timeline.some((e) => e.startsWith('closed'))).toBe(false);
  expect(sseEnded).toBe(false);

  await redis.restart();
  const back = Date.now();
  expect(await within(ws.closed, 2000, 'the WebSocket to close')).toBe(4403);
  await within(sse.ended, 2000 - (Date.now() - back), 'the SSE stream to end');
  expect(Date.now() - back).toBeLessThan(2000);
  // The re-check ran on reconnect, and left the live session's socket open.
  expect(t.logs.some((l) => l.includes('redis back: watched sessions re-checked'))).toBe(true);
  await new Promise((r) => setTimeout(r, 200));
  expect(keptRecorded.timeline.some((e) => e.startsWith('closed'))).toBe(false);
  const rows = await t.db.query(`SELECT id FROM "Session" WHERE id = ANY($1) AND "revokedAt" IS NOT NULL`, [[user.sessionId, sseSession.sessionId]]);
  expect(rows).toHaveLength(2);
  await kept.dispose();
  await ws.dispose();
  sse.dispose();
});
