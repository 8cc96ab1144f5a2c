import { monitorEventLoopDelay } from 'node:perf_hooks';
import pg from 'pg';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { AUDIT_FEED, makeAdmin } from '../helpers/admin.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { DAY } from '../helpers/clock.ts';
import { PASSWORD, SESSION_REVOKED, login, rawSocket, sessionRow, within, type RawSocket } from '../helpers/realtime.ts';
import { metric } from '../helpers/metrics.ts';
import { eventually } from '../helpers/eventually.ts';

// SECURITY-CHECKLIST.md item 54: at most 20 operations open per WebSocket, a cap on sockets per
// client address, a message budget per socket, and subscribes that do not read the database each.
// TRUST_PROXY lets X-Forwarded-For stand for many client addresses.

let t: TestApp;
const sockets: RawSocket[] = [];

beforeAll(async () => {
  t = await startTestApp({ env: { TRUST_PROXY: '127.0.0.1' } });
});
afterAll(async () => {
  for (const s of sockets) s.socket.terminate();
  t.app.server.closeAllConnections();
  await t.close();
});

/** A raw graphql-transport-ws socket from `ip`, acknowledged (with `token`'s session when given). */
async function connect(ip: string, token?: string): Promise<RawSocket> {
  const s = rawSocket(t.url, { headers: { 'x-forwarded-for': ip } });
  sockets.push(s);
  await s.opened;
  s.send({ type: 'connection_init', payload: token ? { authorization: `Bearer ${token}` } : {} });
  await s.waitFor('connection_ack');
  return s;
}
const subscribe = (s: RawSocket, id: string, query: string) => s.send({ id, type: 'subscribe', payload: { query } });
const answersTo = (s: RawSocket, id: string) => s.messages.filter((m) => m.id === id);
async function answerTo(s: RawSocket, id: string, type?: string): Promise<any> {
  const matches = () => answersTo(s, id).filter((m) => !type || m.type === type);
  await eventually(() => matches().length > 0, `a ${type ?? 'message'} for ${id}`);
  return matches()[0];
}
/** Signs in and out again as `email`: one revocation event for every live sessionRevoked subscriber. */
async function revocationOf(email: string): Promise<string> {
  const s = await login(t, email);
  await t.gql(`mutation { logout }`, {}, { token: s.token });
  return s.sessionId;
}
const heardBy = (s: RawSocket, id: string, sessionId: string) =>
  answersTo(s, id).some((m) => m.type === 'next' && m.payload.data?.sessionRevoked?.sessionId === sessionId);

it('54. The 21st operation open on one socket -> RATE_LIMITED while the 20 subscriptions stay live; completing one frees a place', async () => {
  const email = 'twenty@example.com';
  const user = await t.register(email);
  const s = await connect('198.51.100.1', user.token);
  const ids = Array.from({ length: 20 }, (_, i) => `sub-${i}`);
  for (const id of ids) subscribe(s, id, SESSION_REVOKED);
  subscribe(s, 'sub-20', SESSION_REVOKED);
  const refused = await answerTo(s, 'sub-20', 'error');
  expect(refused.payload).toEqual([
    expect.objectContaining({ extensions: expect.objectContaining({ code: 'RATE_LIMITED', retryAfter: 1, requestId: expect.any(String) }) }),
  ]);
  const event = await revocationOf(email);
  await eventually(() => ids.every((id) => heardBy(s, id, event)), 'the 20 subscriptions to hear the event');
  expect(heardBy(s, 'sub-20', event)).toBe(false);
  // The socket is still usable: one operation completed, one more is let in.
  s.send({ id: 'sub-0', type: 'complete' });
  await eventually(async () => {
    subscribe(s, `retry-${s.messages.length}`, SESSION_REVOKED);
    const later = await revocationOf(email);
    await new Promise((r) => setTimeout(r, 20));
    return s.messages.some((m) => m.id?.startsWith('retry-') && m.type === 'next' && m.payload.data?.sessionRevoked?.sessionId === later);
  }, 'a subscription in the freed place');
  expect(s.socket.readyState).toBe(s.socket.OPEN);
});

it('54. Past 50 sockets from one client address the upgrade is refused with 429 and nothing is opened; a closed socket gives its place back; IPv6 counts by /64', async () => {
  const counted = await metric(t, 'portcullis_websocket_connections');
  const ip = '198.51.100.2';
  const mine = await Promise.all(Array.from({ length: 50 }, () => connect(ip)));
  const refused = rawSocket(t.url, { headers: { 'x-forwarded-for': ip } });
  await expect(refused.opened).rejects.toMatchObject({ status: 429 });
  expect(await metric(t, 'portcullis_websocket_connections')).toBe(counted + 50);
  // Another address is not affected; one closed socket lets the next one in.
  await connect('198.51.100.3');
  mine[0]!.socket.close(1000);
  await mine[0]!.closed;
  await eventually(async () => {
    const retry = rawSocket(t.url, { headers: { 'x-forwarded-for': ip } });
    sockets.push(retry);
    return retry.opened.then(
      () => true,
      () => false,
    );
  }, 'the closed socket to give its place back');
  for (const s of mine) s.socket.close(1000);

  // One /64: fifty addresses of it are fifty sockets of one client; the next /64 is another client.
  await Promise.all(Array.from({ length: 50 }, (_, i) => connect(`2001:db8:54:1:${(i + 1).toString(16)}::1`)));
  await expect(rawSocket(t.url, { headers: { 'x-forwarded-for': '2001:db8:54:1:ffff::2' } }).opened).rejects.toMatchObject({ status: 429 });
  await connect('2001:db8:54:2::1');
});

it('54. A flood of messages closes the socket with 4429 "Too many messages"; what came after is not run; /health and other users keep answering', async () => {
  const other = await t.register('bystander@example.com');
  // Invalid documents: each one that is run logs its error once.
  const errorsLogged = () => t.logs.filter((l) => l.includes('"msg":"request error"')).length;
  const flood = (s: RawSocket, messages: number) => {
    for (let i = 0; i < messages; i++) subscribe(s, `q${i}`, '{ nope }');
  };
  const warmUp = await connect('198.51.100.44');
  flood(warmUp, 150);
  await within(warmUp.closed, 3000, 'the warm-up socket to close'); // JIT, connections

  const s = await connect('198.51.100.4');
  const loggedBefore = errorsLogged();
  subscribe(s, 'first', '{ nope }');
  await answerTo(s, 'first', 'error');
  expect(errorsLogged() - loggedBefore).toBe(1);
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  flood(s, 1000);
  await new Promise((r) => setTimeout(r, 5));
  const started = performance.now();
  expect((await fetch(`${t.url}/health`)).status).toBe(200);
  const healthMs = performance.now() - started;
  expect((await t.gql(`{ me { id } }`, {}, { token: other.token })).body.data.me.id).toBe(other.userId);
  const closed = await within(s.closed, 3000, 'the flooded socket to close');
  loop.disable();
  expect(closed).toMatchObject({ code: 4429, reason: 'Too many messages' });
  // connection_init, "first" and 98 more fit the budget of 100 messages; nothing after them ran.
  expect(errorsLogged() - loggedBefore - 1).toBeLessThanOrEqual(98);
  expect(s.messages.filter((m) => m.id?.startsWith('q') && Number(m.id.slice(1)) >= 98)).toEqual([]);
  console.info(`checklist 54 flood: /health ${healthMs.toFixed(1)} ms, worst event-loop delay ${(loop.max / 1e6).toFixed(1)} ms`);
  expect(healthMs, '/health during the flood (ms)').toBeLessThan(200);
  expect(loop.max / 1e6, 'event-loop delay during the flood (ms)').toBeLessThan(200);

  // Pings count too, on an anonymous socket as on any other.
  const pinger = await connect('198.51.100.5');
  for (let i = 0; i < 150; i++) pinger.send({ type: 'ping' });
  expect(await within(pinger.closed, 3000)).toMatchObject({ code: 4429 });
  expect(pinger.messages.filter((m) => m.type === 'pong').length).toBeLessThanOrEqual(99);
});

it('54. Subscribes read no session from the database: with the Session table locked, 20 operations on a signed-in socket are answered and their subscriptions go live', async () => {
  const email = 'no-pool@example.com';
  const user = await t.register(email);
  const s = await connect('198.51.100.6', user.token);
  const authenticate = vi.spyOn(t.app.services.sessions, 'authenticate');
  const locker = new pg.Client({ connectionString: t.db.url });
  await locker.connect();
  try {
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE "Session" IN ACCESS EXCLUSIVE MODE');
    for (let i = 0; i < 10; i++) subscribe(s, `q${i}`, '{ __typename }');
    for (let i = 0; i < 10; i++) subscribe(s, `live${i}`, SESSION_REVOKED);
    const started = performance.now();
    for (let i = 0; i < 10; i++) expect((await answerTo(s, `q${i}`, 'next')).payload).toEqual({ data: { __typename: 'Query' } });
    expect(performance.now() - started).toBeLessThan(1000);
    expect(authenticate).not.toHaveBeenCalled();
  } finally {
    await locker.query('ROLLBACK');
    await locker.end();
    authenticate.mockRestore();
  }
  const event = await revocationOf(email);
  await eventually(() => Array.from({ length: 10 }, (_, i) => `live${i}`).every((id) => heardBy(s, id, event)), 'the subscriptions to be live');
});

it('54. A revoked session still cannot subscribe: at once after its revocation, or once its view is 30 s old when it ended without an event', async () => {
  const email = 'revoked-subscriber@example.com';
  const user = await t.register(email);
  const actor = await login(t, email);
  const s = await connect('198.51.100.7', user.token);
  await t.gql(`mutation($id: ID!) { revokeSession(id: $id) }`, { id: user.sessionId }, { token: actor.token });
  // Sent within the grace before the socket is closed: answered in a millisecond if it were let through.
  subscribe(s, 'after-revoke', '{ __typename }');
  expect((await within(s.closed, 3000)).code).toBe(4403);
  expect(answersTo(s, 'after-revoke').filter((m) => m.type === 'next')).toEqual([]);

  // Revoked behind the service's back (no event): the next read of the session, 30 s on, sees it.
  const quiet = await login(t, email);
  const q = await connect('198.51.100.7', quiet.token);
  await t.db.query(`UPDATE "Session" SET "revokedAt" = now(), "revokeReason" = 'LOGOUT' WHERE id = $1`, [quiet.sessionId]);
  t.clock.advance(31_000);
  subscribe(q, 'stale', '{ __typename }');
  expect((await within(q.closed, 3000)).code).toBe(4403);
  expect(answersTo(q, 'stale').filter((m) => m.type === 'next')).toEqual([]);

  // Past the idle expiry the socket saw, but kept alive on HTTP meanwhile: the database says live.
  const busy = await login(t, email);
  const b = await connect('198.51.100.7', busy.token);
  t.clock.advance(6 * DAY);
  expect((await t.gql(`{ me { id } }`, {}, { token: busy.token })).body.data.me.id).toBe(user.userId);
  t.clock.advance(2 * DAY);
  subscribe(b, 'moved-on', '{ __typename }');
  expect((await answerTo(b, 'moved-on', 'next')).payload).toEqual({ data: { __typename: 'Query' } });
  expect(await sessionRow(t, busy.sessionId)).toMatchObject({ revokedAt: null });
});

it('54. An admin socket reads its session at every subscribe: a demotion takes effect at once', async () => {
  const admin = await makeAdmin(t, 'caps-admin@example.com');
  const s = await connect('198.51.100.8', admin.token);
  subscribe(s, 'feed', AUDIT_FEED);
  await login(t, 'caps-admin@example.com', PASSWORD); // an audit event for the live feed
  expect((await answerTo(s, 'feed', 'next')).payload.data.adminAuditFeed.type).toBe('login.succeeded');
  // Another admin demotes it, as the admin API does.
  const other = await makeAdmin(t, 'caps-other-admin@example.com');
  const demoted = await t.gql(`mutation($id: ID!) { adminUpdateUser(id: $id, input: { role: USER }) { role } }`, { id: admin.userId }, { token: other.token });
  expect(demoted.body.data.adminUpdateUser.role).toBe('USER');
  subscribe(s, 'feed-again', AUDIT_FEED);
  const refused = await answerTo(s, 'feed-again');
  expect(refused.payload.data ?? null).toBeNull();
  expect(refused.payload.errors.map((e: any) => e.extensions.code)).toEqual(['FORBIDDEN']);
  expect(answersTo(s, 'feed-again').map((m) => m.type)).toEqual(['next', 'complete']);
});
