import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.ts';
import { isForbiddenAddress } from '../../src/modules/webhooks/webhook-address.ts';
import { startTestApp, TEST_ENCRYPTION_KEY, type TestApp } from '../helpers/app.ts';
import { makeAdmin, type SignedIn } from '../helpers/admin.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { CREATE, startReceiver, WEBHOOK_ADMIN_FIELDS, type Receiver } from '../helpers/webhook-receiver.ts';

// Checklist item 62: the signature verifies with the standardwebhooks library and fails after any
// byte of the body changes; loopback and private targets are refused in production (at creation
// and again at delivery); no secret in a payload or a log.

let db: TestDatabase;
let open: TestApp; // WEBHOOK_ALLOW_PRIVATE=true, as outside production
let strict: TestApp; // WEBHOOK_ALLOW_PRIVATE=false, the production default
let receiver: Receiver;
let admin: SignedIn;

beforeAll(async () => {
  db = await createTestDatabase();
  open = await startTestApp({ db, env: { WEBHOOK_ALLOW_PRIVATE: 'true' } });
  receiver = await startReceiver();
  admin = await makeAdmin(open, 'ssrf-admin@example.com');
});

afterAll(async () => {
  await open?.close();
  await strict?.close();
  await receiver.close();
  await db.drop();
});

describe('62. webhooks', () => {
  it('62. the signature verifies with standardwebhooks and fails after any byte of the body or id changes; no secret in payload or logs', async () => {
    const created = (await open.gql(CREATE, { input: { url: receiver.url, events: ['user.created', 'session.created'] } }, { token: admin.token })).body.data;
    const { secret, webhook } = created.adminCreateWebhook;
    open.rememberSecret(secret);
    receiver.secret = secret;
    const user = await open.register('signed@example.com');
    await receiver.waitFor((all) => all.length === 2);
    const { body, headers } = receiver.received[0]!;
    const signed = {
      'webhook-id': String(headers['webhook-id']),
      'webhook-timestamp': String(headers['webhook-timestamp']),
      'webhook-signature': String(headers['webhook-signature']),
    };
    expect(signed['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(new Webhook(secret).verify(body, signed)).toEqual(JSON.parse(body));
    const bytes = Buffer.from(body);
    for (let i = 0; i < bytes.length; i++) {
      const altered = Buffer.from(bytes);
      altered[i] = altered[i]! ^ 0x01;
      expect(() => new Webhook(secret).verify(altered, signed), `byte ${i}`).toThrow();
    }
    expect(() => new Webhook(secret).verify(body, { ...signed, 'webhook-id': `${signed['webhook-id']}x` })).toThrow();
    expect(() => new Webhook(`whsec_${Buffer.alloc(24, 1).toString('base64')}`).verify(body, signed)).toThrow();

    for (const r of receiver.received) {
      expect(r.verified).toBe(true);
      for (const leaked of [secret, secret.slice(6), user.token]) expect(r.body).not.toContain(leaked);
    }
    expect(open.logs.some((line) => line.includes('whsec_') || line.includes(secret.slice(6)))).toBe(false);
    const [row] = await db.query(`SELECT "secretSealed" FROM "Webhook" WHERE id = $1`, [webhook.id]);
    expect(row.secretSealed).not.toContain(secret.slice(6));
    const listed = await open.gql(`{ adminWebhooks { id url events enabled } }`, {}, { token: admin.token });
    expect(JSON.stringify(listed.body)).not.toContain(secret.slice(6));
    await open.gql(`mutation($id: ID!) { adminDeleteWebhook(id: $id) }`, { id: webhook.id }, { token: admin.token });
  });

  it('62. WEBHOOK_ALLOW_PRIVATE is false in production and true elsewhere by default', () => {
    expect(loadConfig({ NODE_ENV: 'production', ENCRYPTION_KEY: TEST_ENCRYPTION_KEY }).webhookAllowPrivate).toBe(false);
    expect(loadConfig({ NODE_ENV: 'development' }).webhookAllowPrivate).toBe(true);
    expect(loadConfig({ NODE_ENV: 'development', WEBHOOK_ALLOW_PRIVATE: 'false' }).webhookAllowPrivate).toBe(false);
  });

  it('62. loopback, private, link-local, multicast and unspecified targets are refused at creation (BAD_USER_INPUT), nothing stored', async () => {
    strict = await startTestApp({ db, env: { WEBHOOK_ALLOW_PRIVATE: 'false' } });
    const port = new URL(receiver.url).port;
    const hosts = [
      '127.0.0.1',
      'localhost',
      '[::1]',
      '0.0.0.0',
      '169.254.169.254',
      '[::ffff:127.0.0.1]',
      '[::ffff:a9fe:a9fe]',
      '10.1.2.3',
      '172.16.0.1',
      '192.168.1.1',
      '100.64.0.1',
      '[fd00::1]',
      '[fe80::1]',
      '224.0.0.1',
      '[::]',
      '2130706433',
      '0x7f000001',
    ];
    for (const host of hosts) {
      const r = await strict.gql(CREATE, { input: { url: `http://${host}:${port}/hook`, events: ['user.created'] } }, { token: admin.token });
      expect(r.body.errors?.[0]?.extensions.code, host).toBe('BAD_USER_INPUT');
      expect(r.body.errors?.[0]?.message, host).toMatch(/url refused/);
    }
    expect(await db.query(`SELECT id FROM "Webhook"`)).toEqual([]);
  });

  it('62. a target that turned private after creation (DNS rebinding) is refused at delivery: no request reaches it', async () => {
    // Saved while private targets were allowed, then delivered by a strict instance only.
    await open.close();
    open = await startTestApp({ db, env: { WEBHOOK_ALLOW_PRIVATE: 'true', RUN_WORKERS: 'false' } });
    const ids: string[] = [];
    // An address, and a name that resolves to loopback (checked by the request's own lookup).
    for (const url of [receiver.url, receiver.url.replace('127.0.0.1', 'localhost')]) {
      const { secret, webhook } = (await open.gql(CREATE, { input: { url, events: ['user.created'] } }, { token: admin.token })).body.data.adminCreateWebhook;
      open.rememberSecret(secret);
      ids.push(webhook.id);
    }
    receiver.received.length = 0;
    await strict.register('rebound@example.com');
    const deadline = Date.now() + 15_000;
    let rows: Array<{ attempts: number; responseStatus: number | null }> = [];
    while (Date.now() < deadline) {
      rows = await db.query(`SELECT attempts, "responseStatus" FROM "WebhookDelivery" WHERE "webhookId" = ANY($1::uuid[])`, [ids]);
      if (rows.length === 2 && rows.every((row) => row.attempts > 0)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(rows).toEqual([
      { attempts: 1, responseStatus: null },
      { attempts: 1, responseStatus: null },
    ]);
    expect(receiver.received).toEqual([]);
    const refused = strict.logs.filter((line) => line.includes('webhook delivery failed') && line.includes('loopback, private or reserved'));
    expect(refused).toHaveLength(2);
  });

  it('42. every admin webhook field: UNAUTHENTICATED anonymously, FORBIDDEN for a user, nothing changed; works for an admin', async () => {
    const user = await strict.register('not-an-admin@example.com');
    const { webhook, secret } = (await open.gql(CREATE, { input: { url: receiver.url, events: ['user.created'] } }, { token: admin.token })).body.data
      .adminCreateWebhook;
    strict.rememberSecret(secret);
    const [delivery] = await db.query(`SELECT id FROM "WebhookDelivery" LIMIT 1`);
    const calls: Array<[string, string, Record<string, unknown>]> = [
      ['adminWebhooks', `{ adminWebhooks { id } }`, {}],
      ['adminWebhookDeliveries', `query($id: ID!) { adminWebhookDeliveries(webhookId: $id) { edges { cursor } } }`, { id: webhook.id }],
      ['adminCreateWebhook', CREATE, { input: { url: receiver.url, events: ['user.created'] } }],
      ['adminUpdateWebhook', `mutation($id: ID!) { adminUpdateWebhook(id: $id, input: { enabled: false }) { id } }`, { id: webhook.id }],
      ['adminRotateWebhookSecret', `mutation($id: ID!) { adminRotateWebhookSecret(id: $id) { secret } }`, { id: webhook.id }],
      ['adminDeleteWebhook', `mutation($id: ID!) { adminDeleteWebhook(id: $id) }`, { id: webhook.id }],
      ['adminRedeliverWebhook', `mutation($id: ID!) { adminRedeliverWebhook(deliveryId: $id) }`, { id: delivery.id }],
    ];
    expect(calls.map(([field]) => field).sort()).toEqual([...WEBHOOK_ADMIN_FIELDS].sort());
    // The hook under test and the delivery redelivered last (an admin's redelivery is then attempted).
    const state = async () => [
      await db.query(`SELECT * FROM "Webhook" WHERE id = $1`, [webhook.id]),
      await db.query(`SELECT * FROM "WebhookDelivery" WHERE id = $1`, [delivery.id]),
      await db.query(`SELECT count(*)::int AS n FROM "Webhook"`),
    ];
    for (const [field, query, variables] of calls) {
      const before = await state();
      const anonymous = await strict.gql(query, variables);
      expect([anonymous.status, anonymous.body.errors?.[0]?.extensions.code], field).toEqual([401, 'UNAUTHENTICATED']);
      const refused = await strict.gql(query, variables, { token: user.token });
      expect([refused.status, refused.body.errors?.[0]?.extensions.code], field).toEqual([403, 'FORBIDDEN']);
      expect(await state(), field).toEqual(before);
      const allowed = await strict.gql(query, variables, { token: admin.token });
      if (field === 'adminCreateWebhook')
        expect(allowed.body.errors?.[0]?.extensions.code).toBe('BAD_USER_INPUT'); // loopback, strict
      else expect(allowed.body.errors, field).toBeUndefined();
      if (field === 'adminRotateWebhookSecret') strict.rememberSecret(allowed.body.data.adminRotateWebhookSecret.secret);
    }
  });

  it('62. the address rules cover IPv4, IPv6 and IPv4 inside IPv6', () => {
    for (const a of [
      '127.0.0.1',
      '10.0.0.1',
      '172.31.255.255',
      '192.168.0.1',
      '169.254.169.254',
      '0.0.0.0',
      '100.127.0.1',
      '224.0.0.251',
      '255.255.255.255',
      '::',
      '::1',
      'fe80::1',
      'fc00::1',
      'fd12:3456::1',
      'ff02::1',
      '::ffff:127.0.0.1',
      '::ffff:7f00:1',
      '::ffff:10.0.0.1',
      '64:ff9b::a9fe:a9fe',
      '2002:7f00:1::',
      'not an address',
    ]) {
      expect(isForbiddenAddress(a), a).toBe(true);
    }
    for (const a of ['93.184.216.34', '8.8.8.8', '172.32.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8', '2001:db8::1'.replace('db8', '4860')]) {
      expect(isForbiddenAddress(a), a).toBe(false);
    }
  });
});
