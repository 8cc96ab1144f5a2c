import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { DAY } from '../helpers/clock.ts';
import { SESSION_REVOKED, untilSubscribed } from '../helpers/realtime.ts';
import { eventually } from '../helpers/eventually.ts';
import { subscribeSse } from '../helpers/sse.ts';
import { connectWs } from '../../scripts/ws-connection.ts';

// Subscribers that leave must release what they held at once (listeners, Redis channels), and
// streams whose session ends without a revocation event (expiry) must end too.

const prefix = `test:${randomUUID()}:`;
const redis = new Redis('redis://127.0.0.1:6379');
let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ env: { REDIS_URL: 'redis://127.0.0.1:6379', REDIS_PREFIX: prefix } });
});
afterAll(async () => {
  redis.disconnect();
  await t.close();
});

const subscribersOf = async (userId: string) => {
  const [, count] = (await redis.pubsub('NUMSUB', `${prefix}session-revoked:${userId}`)) as [string, number];
  return Number(count);
};

it('releases the Redis channel of a user as soon as its last subscriber disconnects, without waiting for an event', async () => {
  const { token, userId } = await t.register('leaver@example.com');
  const ws = connectWs(t.url, { token });
  ws.client.subscribe({ query: SESSION_REVOKED }, { next: () => {}, error: () => {}, complete: () => {} });
  await eventually(async () => (await subscribersOf(userId)) === 1, 'the channel subscription');
  await ws.dispose();
  await eventually(async () => (await subscribersOf(userId)) === 0, 'the channel to be released', 2000);
});

it('ends an SSE stream and closes a WebSocket whose session expired while connected', async () => {
  const { token } = await t.register('expiring@example.com');
  const sse = subscribeSse(t.url, SESSION_REVOKED, { token });
  const ws = connectWs(t.url, { token });
  const wsEvents: unknown[] = [];
  ws.client.subscribe({ query: SESSION_REVOKED }, { next: (v) => void wsEvents.push(v), error: () => {}, complete: () => {} });
  await untilSubscribed(t, 'expiring@example.com', [() => sse.events.length > 0, () => wsEvents.length > 0]);

  expect(await t.app.closeEndedSessions()).toBe(0); // still live: nothing is closed
  t.clock.advance(7 * DAY + 1000); // past the idle lifetime
  expect(await t.app.closeEndedSessions()).toBeGreaterThanOrEqual(2);
  await sse.ended;
  expect(await ws.closed).toBe(4403);
});
