import { afterAll, beforeAll, expect, it } from 'vitest';
import { codeOf, startTestApp, type TestApp } from '../helpers/app.ts';
import { DAY } from '../helpers/clock.ts';
import { eventually } from '../helpers/eventually.ts';
import { SESSION_CACHE_TTL_MS } from '../../src/modules/sessions/session-cache.ts';
import { PASSWORD, SESSION_REVOKED, login, recordWs, sessionRow, settlesWithin, untilSubscribed, within } from '../helpers/realtime.ts';
import { subscribeSse, type SseSubscription } from '../helpers/sse.ts';
import { connectWs, type WsConnection } from '../../scripts/ws-connection.ts';

// SECURITY-CHECKLIST.md items 37, 38, 40, 41 (sessions over WebSocket and SSE); 39 (protocol abuse) is in
// websocket-protocol-abuse.test.ts. The protocol details, the Origin allowlist and the metrics are in
// test/realtime/websocket-protocol.test.ts.

const ME = `{ me { id } }`;
const REVOKE = `mutation($id: ID!) { revokeSession(id: $id) }`;
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

function ws(app: TestApp, token: string): WsConnection {
  const c = connectWs(app.url, { token });
  open.push(c);
  return c;
}
function sse(token: string, singleConnection = false): SseSubscription<any> {
  const s = subscribeSse(t.url, SESSION_REVOKED, { token, singleConnection });
  open.push(s);
  return s;
}
const sseHas = (s: SseSubscription<any>, id: string) => s.events.some((e) => e.sessionRevoked.sessionId === id);
/** The close code of a new connection whose connection_init carries `token`, and whether it was acknowledged. */
async function initWith(app: TestApp, token: string): Promise<{ code: number; acked: boolean }> {
  const c = ws(app, token);
  let acked = false;
  c.client.on('connected', () => (acked = true));
  return { code: await within(c.closed, 3000, 'the socket to close'), acked };
}
async function expectDeadOnHttp(app: TestApp, token: string) {
  const r = await app.gql(ME, {}, { token });
  expect(r.status).toBe(401);
  expect(codeOf(r)).toBe('UNAUTHENTICATED');
  expect(r.body.data?.me).toBeUndefined();
}

it('37. After logout, the same token on HTTP, on a new WebSocket connection_init and on SSE -> UNAUTHENTICATED / close 4403', async () => {
  const user = await t.register('logout@example.com');
  const watcher = await login(t, 'logout@example.com');
  const watched = recordWs(ws(t, watcher.token));
  await untilSubscribed(t, 'logout@example.com', [(ids) => ids.some(watched.has)]);
  expect((await t.gql(ME, {}, { token: user.token })).body.data.me.id).toBe(user.userId);

  expect((await t.gql(`mutation { logout }`, {}, { token: user.token })).body).toEqual({ data: { logout: true } });
  expect(await sessionRow(t, user.sessionId)).toMatchObject({ revokedAt: expect.any(Date), revokeReason: 'LOGOUT' });
  await eventually(() => watched.has(user.sessionId), 'the LOGOUT event');
  expect(watched.events.find((e) => e.sessionId === user.sessionId)).toMatchObject({ userId: user.userId, reason: 'LOGOUT' });

  await expectDeadOnHttp(t, user.token);
  expect(await initWith(t, user.token)).toEqual({ code: 4403, acked: false });
  // The refusal is about the token: the user's other, live session is still let in.
  expect((await ws(t, watcher.token).request(ME)).data.me.id).toBe(user.userId);

  // SSE, distinct connections: 401 and UNAUTHENTICATED, no data.
  const raw = await fetch(`${t.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${user.token}` },
    body: JSON.stringify({ query: SESSION_REVOKED }),
  });
  const text = await raw.text();
  expect(raw.status).toBe(401);
  expect(text).toContain('"code":"UNAUTHENTICATED"');
  expect(text).not.toContain('"data"');
  await expect(sse(user.token).ended).rejects.toMatchObject({ response: { status: 401 } });
  // SSE, single connection: the operation is refused with 401 UNAUTHENTICATED (not a 500).
  const single = sse(user.token, true);
  await expect(single.ended).rejects.toMatchObject({ response: { status: 401 } });
  expect(single.events).toEqual([]);
});

it('38. A session revoked while its WebSocket subscription is open -> the sessionRevoked event, then close code 4403 within a second; an SSE stream ends', async () => {
  const email = 'live-revoke@example.com';
  const wsUser = await t.register(email);
  const [distinctS, singleS, actor] = [await login(t, email), await login(t, email), await login(t, email)];
  const socket = ws(t, wsUser.token);
  const onWs = recordWs(socket);
  const distinct = sse(distinctS.token);
  const single = sse(singleS.token, true);
  await untilSubscribed(t, email, [
    (ids) => ids.some(onWs.has),
    (ids) => ids.some((id) => sseHas(distinct, id)),
    (ids) => ids.some((id) => sseHas(single, id)),
  ]);
  // Revocations of other sessions were delivered and closed nothing.
  expect(onWs.timeline.every((e) => e.startsWith('event:'))).toBe(true);

  const before = Date.now();
  expect((await t.gql(REVOKE, { id: wsUser.sessionId }, { token: actor.token })).body.data.revokeSession).toBe(true);
  expect(await within(socket.closed, 1000, 'close 4403 within a second')).toBe(4403);
  expect(Date.now() - before).toBeLessThan(1000);
  const own = `event:${wsUser.sessionId}:REVOKED_BY_USER`;
  expect(onWs.timeline.slice(onWs.timeline.indexOf(own))).toEqual([own, 'complete', 'closed:4403']);
  expect(onWs.events.at(-1)).toMatchObject({ sessionId: wsUser.sessionId, userId: wsUser.userId, reason: 'REVOKED_BY_USER' });
  expect(Number.isNaN(Date.parse(onWs.events.at(-1)!.revokedAt))).toBe(false);

  // SSE (distinct connections): the event, then the stream ends.
  expect(await settlesWithin(distinct.ended, 0)).toBe(false);
  expect((await t.gql(REVOKE, { id: distinctS.sessionId }, { token: actor.token })).body.data.revokeSession).toBe(true);
  await within(distinct.ended, 1000, 'the SSE stream to end');
  expect(distinct.events.at(-1).sessionRevoked).toMatchObject({ sessionId: distinctS.sessionId, reason: 'REVOKED_BY_USER' });

  // SSE (single connection): the event, then the operation completes.
  expect(await settlesWithin(single.ended, 0)).toBe(false);
  expect((await t.gql(REVOKE, { id: singleS.sessionId }, { token: actor.token })).body.data.revokeSession).toBe(true);
  await within(single.ended, 1000, 'the single-connection SSE operation to complete');
  expect(single.events.at(-1).sessionRevoked).toMatchObject({ sessionId: singleS.sessionId, reason: 'REVOKED_BY_USER' });
  for (const s of [wsUser, distinctS, singleS]) {
    expect(await sessionRow(t, s.sessionId)).toMatchObject({ revokeReason: 'REVOKED_BY_USER' });
  }
});

it('38 (continued). A WebSocket with no subscription is closed 4403 when its session is revoked by changePassword or revokeOtherSessions', async () => {
  const email = 'idle-socket@example.com';
  const victim = await t.register(email);
  const actor = await login(t, email);
  const actorWs = ws(t, actor.token);
  const heard = recordWs(actorWs);
  await untilSubscribed(t, email, [(ids) => ids.some(heard.has)]);
  const idle = ws(t, victim.token);
  expect((await idle.request(ME)).data.me.id).toBe(victim.userId);

  const changed = await t.gql(
    `mutation($input: ChangePasswordInput!) { changePassword(input: $input) }`,
    { input: { currentPassword: PASSWORD, newPassword: 'a brand new passphrase' } },
    { token: actor.token },
  );
  expect(changed.body).toEqual({ data: { changePassword: true } });
  expect(await within(idle.closed, 1000, 'the idle socket to close')).toBe(4403);
  await eventually(() => heard.has(victim.sessionId), 'the PASSWORD_CHANGED event');
  expect(heard.events.find((e) => e.sessionId === victim.sessionId)?.reason).toBe('PASSWORD_CHANGED');
  expect(await sessionRow(t, victim.sessionId)).toMatchObject({ revokeReason: 'PASSWORD_CHANGED' });

  const second = await login(t, email, 'a brand new passphrase');
  const idle2 = ws(t, second.token);
  expect((await idle2.request(ME)).data.me.id).toBe(victim.userId);
  const others = await t.gql(`mutation { revokeOtherSessions }`, {}, { token: actor.token });
  expect(others.body).toEqual({ data: { revokeOtherSessions: 1 } });
  expect(await within(idle2.closed, 1000, 'the second idle socket to close')).toBe(4403);
  await eventually(() => heard.has(second.sessionId), 'the REVOKED_BY_USER event');
  expect(heard.events.find((e) => e.sessionId === second.sessionId)?.reason).toBe('REVOKED_BY_USER');

  // The acting session's own socket stays open and authenticated.
  expect(heard.timeline.some((e) => e.startsWith('closed:'))).toBe(false);
  expect((await actorWs.request(ME)).data.me.id).toBe(victim.userId);
});

it("40. User A revokes or lists user B's sessions, or receives B's revocation events -> FORBIDDEN or nothing; never B's data", async () => {
  const a = await t.register('alice@example.com');
  const b = await t.register('bob@example.com');
  const b2 = await login(t, 'bob@example.com');
  const onA = recordWs(ws(t, a.token));
  const aSse = sse(a.token);
  const bWs = ws(t, b.token);
  const onB = recordWs(bWs);
  await untilSubscribed(t, 'alice@example.com', [(ids) => ids.some(onA.has), (ids) => ids.some((id) => sseHas(aSse, id))]);
  await untilSubscribed(t, 'bob@example.com', [(ids) => ids.some(onB.has)]);
  const seenByA = () => [...onA.events, ...aSse.events.map((e) => e.sessionRevoked)];

  // B revokes one of its sessions: B's subscriber hears it, A's hear nothing.
  expect((await t.gql(REVOKE, { id: b2.sessionId }, { token: b.token })).body.data.revokeSession).toBe(true);
  await eventually(() => onB.has(b2.sessionId), "B's event");
  await new Promise((r) => setTimeout(r, 500)); // what is under test: nothing reaches A meanwhile
  expect(seenByA().length).toBeGreaterThan(0);
  expect(seenByA().filter((e) => e.userId !== a.userId)).toEqual([]);
  // A's subscriptions were live all along: A's own revocation still reaches both.
  const a2 = await login(t, 'alice@example.com');
  await t.gql(`mutation { logout }`, {}, { token: a2.token });
  await eventually(() => onA.has(a2.sessionId) && sseHas(aSse, a2.sessionId), "A's own event");
  expect(seenByA().filter((e) => e.userId !== a.userId)).toEqual([]);

  // A revokes B's live session by id: false, nothing changes, no event.
  expect((await t.gql(REVOKE, { id: b.sessionId }, { token: a.token })).body).toEqual({ data: { revokeSession: false } });
  expect(await t.gql(`mutation { revokeOtherSessions }`, {}, { token: a.token })).toMatchObject({ body: { data: { revokeOtherSessions: 0 } } });
  expect(await sessionRow(t, b.sessionId)).toMatchObject({ revokedAt: null, revokeReason: null });
  expect((await t.gql(ME, {}, { token: b.token })).body.data.me.id).toBe(b.userId);
  // Events of one user arrive in order: once B's next own revocation is in, none came for b.sessionId.
  const b3 = await login(t, 'bob@example.com');
  await t.gql(`mutation { logout }`, {}, { token: b3.token });
  await eventually(() => onB.has(b3.sessionId), "B's later event");
  expect(onB.has(b.sessionId)).toBe(false);
  expect((await bWs.request(ME)).data.me.id).toBe(b.userId);

  // A's list holds exactly A's live sessions.
  const mine = await t.gql(`{ mySessions { id current } }`, {}, { token: a.token });
  const aLive = await t.db.query(`SELECT id FROM "Session" WHERE "userId" = $1 AND "revokedAt" IS NULL`, [a.userId]);
  const bAll = await t.db.query(`SELECT id FROM "Session" WHERE "userId" = $1`, [b.userId]);
  const listed = mine.body.data.mySessions.map((s: { id: string }) => s.id);
  expect(listed.sort()).toEqual(aLive.map((r) => r.id).sort());
  expect(listed.filter((id: string) => bAll.some((r) => r.id === id))).toEqual([]);
});

it('41. A token after its idle or absolute lifetime (fake clock), or after the user is locked or deleted -> UNAUTHENTICATED', async () => {
  // An app of its own (same database), so moving its clock ends no other test's sessions.
  const c = await startTestApp({ db: t.db });
  try {
    // Idle lifetime: 7 days without use.
    const idle = await c.register('idle@example.com');
    const swept = ws(c, idle.token);
    const rechecked = ws(c, idle.token);
    for (const s of [swept, rechecked]) expect((await s.request(ME)).data.me.id).toBe(idle.userId);
    expect(await c.app.closeEndedSessions()).toBe(0);
    c.clock.advance(7 * DAY + 1000);
    await expectDeadOnHttp(c, idle.token);
    expect(await initWith(c, idle.token)).toEqual({ code: 4403, acked: false });
    // An open socket: a new subscribe re-checks the session...
    await rechecked.request(ME).catch(() => {});
    expect(await within(rechecked.closed, 1000)).toBe(4403);
    // ...and an idle one stays open until the sweep, which closes it.
    expect(await settlesWithin(swept.closed, 100)).toBe(false);
    expect(await c.app.closeEndedSessions()).toBeGreaterThanOrEqual(1);
    expect(await within(swept.closed, 1000)).toBe(4403);

    // Absolute lifetime: 30 days from sign-in, however active.
    const busy = await c.register('busy@example.com');
    const row = (await c.db.query(`SELECT "createdAt", "expiresAt" FROM "Session" WHERE id = $1`, [busy.sessionId]))[0];
    expect(row.expiresAt.getTime() - row.createdAt.getTime()).toBe(30 * DAY);
    for (const step of [6, 6, 6, 6, 5]) {
      c.clock.advance(step * DAY);
      expect((await c.gql(ME, {}, { token: busy.token })).body.data.me.id).toBe(busy.userId);
    }
    c.clock.advance(DAY + 1000); // 30 days + 1 s after sign-in, last used a day ago
    await expectDeadOnHttp(c, busy.token);
    expect(await initWith(c, busy.token)).toEqual({ code: 4403, acked: false });

    // Locked: an admin lock revokes the sessions (USER_LOCKED), covered by the admin tests.
    // Deleted user: the sessions go with the row. Deleted behind the service's back (plain SQL, no
    // adminDeleteUser to mark the change), a token the session cache holds dies within its lifetime.
    const gone = await c.register('deleted@example.com');
    const goneWs = ws(c, gone.token);
    expect((await goneWs.request(ME)).data.me.id).toBe(gone.userId);
    await c.db.query(`DELETE FROM "User" WHERE id = $1`, [gone.userId]);
    expect(await c.db.query(`SELECT id FROM "Session" WHERE "userId" = $1`, [gone.userId])).toEqual([]);
    await eventually(async () => (await c.gql(ME, {}, { token: gone.token })).status === 401, "the deleted user's token refused", SESSION_CACHE_TTL_MS + 1000);
    await expectDeadOnHttp(c, gone.token);
    expect(await initWith(c, gone.token)).toEqual({ code: 4403, acked: false });
    expect(await c.app.closeEndedSessions()).toBe(1);
    expect(await within(goneWs.closed, 1000)).toBe(4403);
  } finally {
    await c.close();
  }
});
