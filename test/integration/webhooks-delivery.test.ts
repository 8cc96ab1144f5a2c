import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Config } from '../../src/config/env.ts';
import { defaultWebhookPolicy } from '../../src/config/policies.ts';
import { retrySchedule } from '../../src/modules/webhooks/webhook-delivery.ts';
import { fastHashing, startTestApp, type TestApp } from '../helpers/app.ts';
import { makeAdmin, type SignedIn } from '../helpers/admin.ts';
import { DAY, FakeClock, HOUR, MINUTE } from '../helpers/clock.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { eventually } from '../helpers/eventually.ts';
import { CREATE, DELIVERIES, startReceiver, type Receiver } from '../helpers/webhook-receiver.ts';

// Reliability of delivery: retries under the same webhook-id, the schedule on the service clock,
// nothing for a rolled-back change, and a delivery cut off by a stopped worker sent after restart.

const retriesAtOnce = (c: Config): Config => ({ ...fastHashing(c), webhooks: { ...c.webhooks, retryDelaysMs: [0, 0, 0], repeatEveryMs: 0, timeoutMs: 1500 } });

let db: TestDatabase;
let clock: FakeClock;
let t: TestApp;
let receiver: Receiver;
let admin: SignedIn;

beforeAll(async () => {
  db = await createTestDatabase();
  clock = new FakeClock();
  t = await startTestApp({ db, clock, configure: retriesAtOnce });
  receiver = await startReceiver();
  admin = await makeAdmin(t, 'delivery-admin@example.com');
});

afterAll(async () => {
  await t.close();
  await receiver.close();
  await db.drop();
});

async function hook(events: string[], app = t): Promise<string> {
  const { webhook, secret } = (await app.gql(CREATE, { input: { url: receiver.url, events } }, { token: admin.token })).body.data.adminCreateWebhook;
  receiver.secret = secret;
  app.rememberSecret(secret);
  return webhook.id;
}
const deliveryRows = (webhookId: string) =>
  db.query(`SELECT id, status, attempts, "responseStatus", "nextAttemptAt", "createdAt" FROM "WebhookDelivery" WHERE "webhookId" = $1 ORDER BY id`, [
    webhookId,
  ]);
/** The first delivery row of the hook once `ok` (the receiver answers before the row is settled). */
async function rowOnce(webhookId: string, ok: (row: any) => boolean): Promise<any> {
  let row: any;
  await eventually(async () => (row = (await deliveryRows(webhookId))[0]) !== undefined && ok(row), 'the delivery row', 15_000);
  return row;
}

it('retries a receiver that answers 500 twice: one accepted delivery, the same webhook-id each time', async () => {
  const webhookId = await hook(['user.created']);
  receiver.answer = ({ count }) => (count < 2 ? 500 : 200);
  const { userId } = await t.register('retried@example.com');
  await receiver.waitFor((all) => all.some((r) => r.status === 200));
  await rowOnce(webhookId, (row) => row.status === 'DELIVERED');
  expect(receiver.received.map((r) => r.status)).toEqual([500, 500, 200]);
  expect(new Set(receiver.received.map((r) => r.id)).size).toBe(1);
  expect(receiver.accepted()).toHaveLength(1);
  expect(receiver.accepted()[0]!.payload!.data.user.id).toBe(userId);
  const [row] = await deliveryRows(webhookId);
  expect(row).toMatchObject({ id: receiver.received[0]!.id, status: 'DELIVERED', attempts: 3, responseStatus: 200 });
  const listed = (await t.gql(DELIVERIES, { id: webhookId }, { token: admin.token })).body.data.adminWebhookDeliveries.edges;
  expect(listed.map((e: any) => e.node)).toMatchObject([{ id: row.id, status: 'DELIVERED', attempts: 3, responseStatus: 200 }]);
  expect((await db.query(`SELECT "failureCount" FROM "Webhook" WHERE id = $1`, [webhookId]))[0].failureCount).toBe(0);
  const metrics = await (await fetch(`${t.url}/metrics`)).text();
  expect(metrics).toContain('portcullis_webhook_deliveries_total{event="user.created",outcome="retry"} 2');
  expect(metrics).toContain('portcullis_webhook_deliveries_total{event="user.created",outcome="delivered"} 1');
  expect(metrics).toMatch(/^portcullis_webhook_queue_lag_seconds \d/m);
  await t.gql(`mutation($id: ID!) { adminDeleteWebhook(id: $id) }`, { id: webhookId }, { token: admin.token });
});

it('gives up on a receiver after the timeout, follows no redirect, and accepts a 2xx with a large body', async () => {
  const webhookId = await hook(['user.created']);
  receiver.received.length = 0;
  const elsewhere = receiver.url.replace('/hook', '/elsewhere');
  const answers = [
    () => new Promise<number>(() => {}), // hangs
    () => ({ status: 302, headers: { location: elsewhere } }),
    () => ({ status: 200, body: 'x'.repeat(1024 * 1024) }),
  ];
  receiver.answer = ({ count }) => answers[count]!();
  await t.register('slow-receiver@example.com');
  await receiver.waitFor((all) => all.some((r) => r.status === 200));
  await rowOnce(webhookId, (row) => row.status === 'DELIVERED');
  expect(receiver.received.map((r) => [r.path, r.status])).toEqual([
    ['/hook', 0],
    ['/hook', 302],
    ['/hook', 200],
  ]);
  expect((await deliveryRows(webhookId))[0]).toMatchObject({ status: 'DELIVERED', attempts: 3, responseStatus: 200 });
  expect(t.logs.some((line) => line.includes('no answer within 1500 ms'))).toBe(true);
  await t.gql(`mutation($id: ID!) { adminDeleteWebhook(id: $id) }`, { id: webhookId }, { token: admin.token });
});

it('sends nothing for a change that is rolled back', async () => {
  const webhookId = await hook(['user.locked', 'session.revoked']);
  receiver.received.length = 0;
  const victim = await t.register('rolled-back@example.com');
  // The lock writes the user and its audit event (and so the outbox rows), then fails on the sessions.
  await db.query(`CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$ LANGUAGE plpgsql`);
  await db.query(`CREATE TRIGGER refuse_revocations BEFORE UPDATE ON "Session" FOR EACH ROW EXECUTE FUNCTION refuse()`);
  try {
    const r = await t.gql(`mutation($id: ID!) { adminLockUser(id: $id) { locked } }`, { id: victim.userId }, { token: admin.token });
    expect(r.body.errors?.[0]?.extensions.code).toBe('INTERNAL_SERVER_ERROR');
  } finally {
    await db.query(`DROP TRIGGER refuse_revocations ON "Session"; DROP FUNCTION refuse()`);
  }
  expect((await db.query(`SELECT "lockedUntil" FROM "User" WHERE id = $1`, [victim.userId]))[0].lockedUntil).toBeNull();
  await new Promise((r) => setTimeout(r, 500));
  expect(await deliveryRows(webhookId)).toEqual([]);
  expect(receiver.received).toEqual([]);
  // The same change committed is announced.
  receiver.answer = () => 204;
  await t.gql(`mutation($id: ID!) { adminLockUser(id: $id) { locked } }`, { id: victim.userId }, { token: admin.token });
  await receiver.waitFor(() => receiver.accepted().length === 2);
  expect(
    receiver
      .accepted()
      .map((r) => r.payload!.type)
      .sort(),
  ).toEqual(['session.revoked', 'user.locked']);
  await t.gql(`mutation($id: ID!) { adminDeleteWebhook(id: $id) }`, { id: webhookId }, { token: admin.token });
});

it('gives up after the last retry, and disables a webhook failing for three days (audited)', async () => {
  const webhookId = await hook(['user.created']);
  receiver.received.length = 0;
  receiver.answer = () => 500;
  await t.register('never-accepted@example.com');
  await receiver.waitFor((all) => all.length === 4);
  const row = await rowOnce(webhookId, (r) => r.status === 'FAILED');
  expect(row).toMatchObject({ status: 'FAILED', attempts: 4, responseStatus: 500 });
  expect(receiver.received).toHaveLength(4);
  expect((await db.query(`SELECT enabled FROM "Webhook" WHERE id = $1`, [webhookId]))[0].enabled).toBe(true);

  clock.advance(3 * DAY);
  const again = await t.gql(`mutation($id: ID!) { adminRedeliverWebhook(deliveryId: $id) }`, { id: row.id }, { token: admin.token });
  expect(again.body.data.adminRedeliverWebhook).toBe(true);
  await receiver.waitFor((all) => all.length === 5);
  await eventually(async () => !(await db.query(`SELECT enabled FROM "Webhook" WHERE id = $1`, [webhookId]))[0].enabled, 'the hook disabled', 15_000);
  expect(receiver.received.map((r) => r.id)).toEqual(Array(5).fill(row.id));
  expect((await db.query(`SELECT enabled, "failureCount" FROM "Webhook" WHERE id = $1`, [webhookId]))[0]).toEqual({ enabled: false, failureCount: 5 });
  expect(await db.query(`SELECT data FROM "AuditEvent" WHERE type = 'webhook.disabled'`)).toHaveLength(1);
  await t.register('after-disabled@example.com');
  expect(await deliveryRows(webhookId)).toHaveLength(1);
});

it('times retries on the service clock: 5 s, 30 s, 2 min, 10 min, 1 h, then every 3 h for a day', async () => {
  expect(retrySchedule(defaultWebhookPolicy)).toEqual([5_000, 30_000, 2 * MINUTE, 10 * MINUTE, HOUR, ...Array(7).fill(3 * HOUR)]);
  expect(retrySchedule(defaultWebhookPolicy).reduce((a, b) => a + b)).toBeLessThanOrEqual(DAY);
  // From here on, the default policy.
  await t.close();
  t = await startTestApp({ db, clock, configure: fastHashing });
  const webhookId = await hook(['user.created']);
  receiver.received.length = 0;
  receiver.answer = () => 503;
  await t.register('scheduled@example.com');
  await receiver.waitFor((all) => all.length === 1);
  const row = await rowOnce(webhookId, (r) => r.attempts === 1);
  expect(row).toMatchObject({ status: 'PENDING', attempts: 1, responseStatus: 503 });
  expect(row.nextAttemptAt.getTime() - row.createdAt.getTime()).toBe(5_000);
  expect(receiver.received).toHaveLength(1); // not due on the service clock yet
  await t.gql(`mutation($id: ID!) { adminDeleteWebhook(id: $id) }`, { id: webhookId }, { token: admin.token });
});

it('delivers after a restart what a worker stopped mid-delivery had claimed, under the same id', async () => {
  const webhookId = await hook(['user.created']);
  receiver.received.length = 0;
  receiver.answer = ({ count }) => (count === 0 ? new Promise<number>(() => {}) : 204); // the first request hangs
  await t.register('cut-off@example.com');
  await receiver.waitFor((all) => all.length === 1);
  await t.close(); // the worker stops while its request is unanswered
  clock.advance(t.config.webhooks.claimMs + 1);
  t = await startTestApp({ db, clock, configure: fastHashing });
  await receiver.waitFor(() => receiver.accepted().length === 1);
  expect(receiver.accepted()[0]!.id).toBe(receiver.received[0]!.id);
  const row = await rowOnce(webhookId, (r) => r.status === 'DELIVERED');
  expect(row).toMatchObject({ id: receiver.received[0]!.id, status: 'DELIVERED', attempts: 1 });
}, 40_000);
