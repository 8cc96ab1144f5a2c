import { afterAll, beforeAll, expect, it } from 'vitest';
import type { TestApp } from '../helpers/app.ts';
import { makeAdmin, type SignedIn } from '../helpers/admin.ts';
import { CHANGE, LOGIN, REQUEST_RESET, RESET, tokenIn, startMailingApp, VERIFY } from '../helpers/recovery.ts';
import type { SendgridFake } from '../helpers/sendgrid-fake.ts';
import { eventually } from '../helpers/eventually.ts';
import { CREATE, DELIVERIES, startReceiver, type Receiver } from '../helpers/webhook-receiver.ts';

// Every event of API.md "Webhooks" (but second_factor.*: no second factor exists yet) reaches a
// subscribed receiver once, signed, with the documented payload; the admin fields manage the hook.

let t: TestApp;
let mail: SendgridFake;
let closeApp: () => Promise<void>;
let receiver: Receiver;
let admin: SignedIn;
let webhookId: string;

const ALL = [
  'user.created',
  'user.updated',
  'user.deleted',
  'user.locked',
  'user.unlocked',
  'email.verified',
  'password.changed',
  'password.reset',
  'session.created',
  'session.revoked',
];

beforeAll(async () => {
  ({ t, mail, close: closeApp } = await startMailingApp());
  receiver = await startReceiver();
  admin = await makeAdmin(t, 'hooks-admin@example.com');
  const created = await t.gql(CREATE, { input: { url: receiver.url, events: ALL, description: 'CRM sync' } }, { token: admin.token });
  const { webhook, secret } = created.body.data.adminCreateWebhook;
  expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
  expect(webhook).toMatchObject({ url: receiver.url, events: ALL, description: 'CRM sync', enabled: true, failureCount: 0 });
  receiver.secret = secret;
  t.rememberSecret(secret);
  webhookId = webhook.id;
});

afterAll(async () => {
  await closeApp();
  await receiver.close();
});

const byType = (type: string) => receiver.accepted().filter((r) => r.payload?.type === type);
const admins = (query: string, variables: Record<string, unknown>) => t.gql(query, variables, { token: admin.token });

it('sends each event once, signed, with the user or session and nothing secret', async () => {
  const email = 'hooked@example.com';
  const user = await t.register(email, 'first password 1');
  const { userId } = user;
  const login = (await t.gql(LOGIN, { input: { email, password: 'first password 1' } })).body.data.login;
  await t.gql(`mutation { logout }`, {}, { token: login.token });
  await t.gql(VERIFY, { input: { token: tokenIn(t, await mail.waitFor(email, 'email-verification'), '/auth/verify-email') } }, { token: user.token });
  await t.gql(CHANGE, { input: { currentPassword: 'first password 1', newPassword: 'second password 2' } }, { token: user.token });
  await t.gql(REQUEST_RESET, { input: { email } });
  const reset = tokenIn(t, await mail.waitFor(email, 'password-reset'), '/auth/reset-password');
  expect((await t.gql(RESET, { input: { token: reset, newPassword: 'third password 3' } })).body.data.resetPassword).toBe(true);
  await admins(`mutation($id: ID!) { adminUpdateUser(id: $id, input: { name: "Hooked" }) { id } }`, { id: userId });
  await admins(`mutation($id: ID!) { adminLockUser(id: $id) { locked } }`, { id: userId });
  await admins(`mutation($id: ID!) { adminUnlockUser(id: $id) { locked } }`, { id: userId });
  await admins(`mutation($id: ID!) { adminDeleteUser(id: $id) }`, { id: userId });

  await receiver.waitFor(() => byType('user.deleted').length === 1);
  const rows = await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM "WebhookDelivery" WHERE "webhookId" = $1`, [webhookId]);
  await receiver.waitFor(() => receiver.accepted().length >= rows[0]!.n);
  const settled = `SELECT count(*)::int AS n FROM "WebhookDelivery" WHERE "webhookId" = $1 AND status = 'DELIVERED'`;
  await eventually(async () => (await t.db.query(settled, [webhookId]))[0].n === rows[0]!.n, 'every delivery settled', 15_000);
  expect(receiver.received.every((r) => r.verified)).toBe(true);
  expect(receiver.received).toHaveLength(rows[0]!.n);
  expect(new Set(receiver.received.map((r) => r.id)).size).toBe(receiver.received.length);

  const userShape = (emailVerified: boolean) => ({ user: { id: userId, email, role: 'USER', emailVerified } });
  expect(byType('user.created').map((r) => r.payload!.data)).toEqual([userShape(false)]);
  expect(byType('email.verified').map((r) => r.payload!.data)).toEqual([userShape(true)]);
  for (const type of ['password.changed', 'password.reset', 'user.updated', 'user.locked', 'user.unlocked', 'user.deleted']) {
    expect(
      byType(type).map((r) => r.payload!.data),
      type,
    ).toEqual([userShape(true)]);
  }
  const opened = byType('session.created').map((r) => r.payload!.data.session);
  expect(opened).toHaveLength(2);
  expect(opened).toContainEqual({ id: user.sessionId, userId, method: 'PASSWORD' });
  expect(opened).toContainEqual({ id: login.session.id, userId, method: 'PASSWORD' });
  const revoked = byType('session.revoked').map((r) => r.payload!.data.session);
  expect(revoked).toHaveLength(2);
  expect(revoked).toContainEqual({ id: login.session.id, userId, method: 'PASSWORD', reason: 'LOGOUT' });
  expect(revoked).toContainEqual({ id: user.sessionId, userId, method: 'PASSWORD', reason: 'PASSWORD_RESET' });
  for (const r of receiver.received) {
    expect(Object.keys(r.payload!)).toEqual(['type', 'timestamp', 'data']);
    expect(r.payload!.timestamp).toMatch(/^\d{4}-\d\d-\d\dT.*Z$/);
    expect(r.headers['webhook-id']).toBe(r.id);
    for (const secret of [user.token, login.token, reset, receiver.secret!]) expect(r.body).not.toContain(secret);
    expect(r.body).not.toContain('$argon2');
  }
  // The delivery log agrees, newest first, page by page.
  const first = (await admins(DELIVERIES, { id: webhookId, first: 2 })).body.data.adminWebhookDeliveries;
  expect(first.pageInfo.hasNextPage).toBe(true);
  const second = (await admins(DELIVERIES, { id: webhookId, first: 100, after: first.pageInfo.endCursor })).body.data.adminWebhookDeliveries;
  const listed = [...first.edges, ...second.edges].map((e: any) => e.node);
  // Arrival order is not guaranteed; the log lists by creation (time-ordered ids), newest first.
  expect(listed.map((d: any) => d.id)).toEqual(
    receiver.received
      .map((r) => r.id)
      .sort()
      .reverse(),
  );
  expect(listed.every((d: any) => d.status === 'DELIVERED' && d.attempts === 1 && d.responseStatus === 204 && d.deliveredAt)).toBe(true);
});

it('sends only the subscribed events; disabled and deleted hooks get nothing; changes are audited', async () => {
  const before = receiver.received.length;
  const upd = await admins(`mutation($id: ID!) { adminUpdateWebhook(id: $id, input: { events: ["user.deleted"] }) { events } }`, { id: webhookId });
  expect(upd.body.data.adminUpdateWebhook.events).toEqual(['user.deleted']);
  await t.register('not-announced@example.com');
  await admins(`mutation($id: ID!) { adminUpdateWebhook(id: $id, input: { enabled: false, events: ["user.created"] }) { enabled } }`, { id: webhookId });
  await t.register('not-announced-either@example.com');
  const rotated = (await admins(`mutation($id: ID!) { adminRotateWebhookSecret(id: $id) { webhook { id } secret } }`, { id: webhookId })).body.data;
  t.rememberSecret(rotated.adminRotateWebhookSecret.secret);
  expect(rotated.adminRotateWebhookSecret.secret).not.toBe(receiver.secret);
  expect((await admins(`mutation($id: ID!) { adminDeleteWebhook(id: $id) }`, { id: webhookId })).body.data.adminDeleteWebhook).toBe(true);
  expect((await admins(`{ adminWebhooks { id } }`, {})).body.data.adminWebhooks).toEqual([]);
  expect(await t.db.query(`SELECT id FROM "WebhookDelivery" WHERE "webhookId" = $1`, [webhookId])).toEqual([]);
  await new Promise((r) => setTimeout(r, 300));
  expect(receiver.received).toHaveLength(before);
  const audit = await t.db.query<{ type: string }>(`SELECT type FROM "AuditEvent" WHERE type LIKE 'webhook.%' ORDER BY id`);
  expect(audit.map((a) => a.type)).toEqual(['webhook.created', 'webhook.updated', 'webhook.updated', 'webhook.secret_rotated', 'webhook.deleted']);
  const stored = await t.db.query(`SELECT 1 FROM "Webhook" WHERE "secretSealed" LIKE '%whsec_%'`);
  expect(stored).toEqual([]);
});

it('refuses non-admins, unknown events and bad ids with the documented codes', async () => {
  const user = await t.register('plain-user@example.com');
  const denied = await t.gql(CREATE, { input: { url: receiver.url, events: ['user.created'] } }, { token: user.token });
  expect(denied.body.errors?.[0]?.extensions.code).toBe('FORBIDDEN');
  const unknown = await admins(CREATE, { input: { url: receiver.url, events: ['user.hacked'] } });
  expect(unknown.body.errors?.[0]?.extensions.code).toBe('BAD_USER_INPUT');
  const badUrl = await admins(CREATE, { input: { url: 'ftp://example.com/x', events: ['user.created'] } });
  expect(badUrl.body.errors?.[0]?.extensions.code).toBe('BAD_USER_INPUT');
  const badId = await admins(DELIVERIES, { id: 'nope' });
  expect(badId.body.errors?.[0]?.extensions.code).toBe('BAD_USER_INPUT');
  const tooMany = await admins(`mutation { adminRedeliverWebhook(deliveryId: "x") }`, {});
  expect(tooMany.body.errors?.[0]?.extensions.code).toBe('BAD_USER_INPUT');
  expect(await t.db.query(`SELECT id FROM "Webhook"`)).toEqual([]);
});
