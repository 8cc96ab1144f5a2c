import { afterAll, beforeAll, expect, it } from 'vitest';
import { recordWs, within } from '../helpers/realtime.ts';
import { eventually } from '../helpers/eventually.ts';
import { connectWs } from '../../scripts/ws-connection.ts';
import { gql, login, register, startTestCluster, untilSubscribed, type TestCluster } from './cluster-client.ts';

// Issue 19's acceptance, the shared-state half: three instances behind HAProxy (round robin) on one
// PostgreSQL and one Redis. A revocation made through any instance closes a subscription held on
// any other within a second; rate limits hold in total; a session opened on one instance is valid
// on all, and one ended on one instance is dead on all.

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await startTestCluster({ env: { RATE_LIMITS: 'register=off' } });
}, 90_000);
afterAll(async () => {
  await cluster?.close();
});

const REVOKE = `mutation($id: ID!) { revokeSession(id: $id) }`;
const sessionRow = async (id: string) => (await cluster.db.query(`SELECT "revokedAt", "revokeReason" FROM "Session" WHERE id = $1`, [id]))[0];

it('closes, within a second, a subscription on one instance when the session is revoked through another or through HAProxy', async () => {
  const email = 'subscriber@example.com';
  await register(cluster.url, email);
  const control = await login(cluster.url, email);
  const pinned = [];
  // One subscriber pinned to each instance (connected to its own port) and one through HAProxy.
  for (const target of [...cluster.instances.map((p) => p.url), cluster.url]) {
    const session = await login(cluster.url, email);
    const ws = connectWs(target, { token: session.token });
    pinned.push({ target, session, ws, recorded: recordWs(ws) });
  }
  await untilSubscribed(
    cluster.url,
    email,
    pinned.map((p) => (ids: string[]) => ids.some((id) => p.recorded.has(id))),
  );

  for (const [i, subscriber] of pinned.entries()) {
    // Revoked through the next instance (the one through HAProxy: through HAProxy again).
    const through = i < cluster.instances.length ? cluster.instances[(i + 1) % cluster.instances.length]!.url : cluster.url;
    const before = performance.now();
    const r = await gql(through, REVOKE, { id: subscriber.session.sessionId }, control.token);
    expect(r.body.data?.revokeSession).toBe(true);
    expect(await within(subscriber.ws.closed, 1000, `the close of the subscriber on ${subscriber.target}`)).toBe(4403);
    expect(performance.now() - before).toBeLessThan(1000);
    expect(subscriber.recorded.has(subscriber.session.sessionId)).toBe(true);
    expect(await sessionRow(subscriber.session.sessionId)).toMatchObject({ revokedAt: expect.any(Date), revokeReason: 'REVOKED_BY_USER' });
  }
  // The control session, never revoked, still works on every instance.
  for (const p of cluster.instances) {
    expect((await gql(p.url, `{ me { email } }`, {}, control.token)).body.data?.me?.email).toBe(email);
  }
});

it('holds a rate limit in total across the instances, not per instance', async () => {
  const email = 'limited@example.com';
  const { token } = await register(cluster.url, email);
  const before = await cluster.haproxy.servers();
  // requestEmailVerification allows 3 per user per 15 minutes; 9 requests, round robin: 3 per instance.
  const answers = [];
  for (let i = 0; i < 9; i++) answers.push(await gql(cluster.url, `mutation { requestEmailVerification }`, {}, token));
  const after = await cluster.haproxy.servers();
  for (const p of cluster.instances) expect(after.get(p.name)!.sessions - before.get(p.name)!.sessions).toBe(3);
  expect(answers.filter((a) => a.body.data?.requestEmailVerification === true)).toHaveLength(3);
  expect(answers.filter((a) => a.status === 429 && a.body.errors?.[0]?.extensions?.code === 'RATE_LIMITED')).toHaveLength(6);
  // Each instance, asked directly, refuses too.
  for (const p of cluster.instances) {
    expect((await gql(p.url, `mutation { requestEmailVerification }`, {}, token)).body.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
  }

  // requestMagicLink answers true past its limit (3 per address) and sends nothing: count the mails.
  for (let i = 0; i < 9; i++) {
    expect((await gql(cluster.url, `mutation($e: String!) { requestMagicLink(input: { email: $e }) }`, { e: email })).body.data?.requestMagicLink).toBe(true);
  }
  // Side effect: three mails of each kind (plus register's own verification mail), sent by the worker process.
  const mails = async (template: string) =>
    (await cluster.db.query(`SELECT count(*)::int AS n FROM "Mail" WHERE "to" = $1 AND template = $2`, [email, template]))[0].n as number;
  await eventually(async () => (await mails('magic-link')) === 3 && (await mails('email-verification')) === 4, 'the worker to send the mails', 10_000);
  await new Promise((r) => setTimeout(r, 500));
  expect([await mails('magic-link'), await mails('email-verification')]).toEqual([3, 4]);
});

it('accepts a session opened on one instance on every instance, and refuses it on all once it ended on one', async () => {
  const email = 'roaming@example.com';
  const { userId } = await register(cluster.url, email);
  const [first, second, third] = cluster.instances;
  const session = await login(first!.url, email);
  for (const p of cluster.instances) {
    const r = await gql(p.url, `{ me { id email } }`, {}, session.token);
    expect(r.body.data?.me).toEqual({ id: userId, email });
  }
  expect((await gql(second!.url, `mutation { logout }`, {}, session.token)).body.data?.logout).toBe(true);
  expect(await sessionRow(session.sessionId)).toMatchObject({ revokedAt: expect.any(Date), revokeReason: 'LOGOUT' });
  for (const p of [first!, third!]) {
    const r = await gql(p.url, `{ me { id } }`, {}, session.token);
    expect(r.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  }
  // Through HAProxy, whichever instance answers: dead too.
  for (let i = 0; i < cluster.instances.length; i++) {
    expect((await gql(cluster.url, `{ me { id } }`, {}, session.token)).body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  }
});
