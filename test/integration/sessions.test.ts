import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type GqlResult, type TestApp } from '../helpers/app.ts';
import { DAY, MINUTE } from '../helpers/clock.ts';

const PASSWORD = 'correct horse battery';
const ME = `{ me { id } }`;
const MY_SESSIONS = `{ mySessions { id current method ipAddress userAgent createdAt lastSeenAt expiresAt } }`;
const LOGIN = `mutation($input: LoginInput!) { login(input: $input) { token session { id } } }`;
const LOGOUT = `mutation { logout }`;
const REVOKE = `mutation($id: ID!) { revokeSession(id: $id) }`;
const REVOKE_OTHERS = `mutation { revokeOtherSessions }`;

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

/** A second sign-in of an existing user, with the given User-Agent. */
async function login(email: string, userAgent = 'vitest sessions') {
  const r = await t.gql(LOGIN, { input: { email, password: PASSWORD } }, { headers: { 'user-agent': userAgent } });
  if (!r.body.data?.login) throw new Error(`login failed: ${JSON.stringify(r.body.errors)}`);
  return { token: r.body.data.login.token as string, sessionId: r.body.data.login.session.id as string };
}

// Timestamps are "timestamp without time zone" holding UTC; read them as such whatever the machine's TZ.
const utc = (c: string) => `("${c}" AT TIME ZONE 'UTC') AS "${c}"`;
const TIMES = ['createdAt', 'lastSeenAt', 'expiresAt', 'idleExpiresAt', 'revokedAt'].map(utc).join(', ');
async function sessionRow(id: string) {
  const [row] = await t.db.query(`SELECT id, "userId", "tokenHash", "revokeReason", ${TIMES} FROM "Session" WHERE id = $1`, [id]);
  if (!row) throw new Error(`no session ${id}`);
  return row;
}
/** Every session's revocation and activity columns, to prove that a call wrote nothing. */
const snapshot = () => t.db.query(`SELECT id, "revokedAt", "revokeReason", "lastSeenAt", "idleExpiresAt" FROM "Session" ORDER BY id`);

function expectUnauthenticated(r: GqlResult) {
  expect(r.status).toBe(401);
  expect(r.body.errors?.[0]?.extensions.code).toBe('UNAUTHENTICATED');
}
async function expectDead(token: string) {
  expectUnauthenticated(await t.gql(ME, {}, { token }));
}
async function expectAlive(token: string, userId: string) {
  const r = await t.gql(ME, {}, { token });
  expect(r.status).toBe(200);
  expect(r.body.data.me.id).toBe(userId);
}

describe('mySessions', () => {
  it("lists only the caller's live sessions, newest first, marking the calling one current", async () => {
    const { token: expiredToken, sessionId: expiredId } = await t.register('list@example.com', PASSWORD);
    t.clock.advance(7 * DAY + 1); // the first session is now idle-expired (not revoked)
    await expectDead(expiredToken);
    const stranger = await t.register('list-other@example.com', PASSWORD);
    const a = await login('list@example.com', 'Agent A');
    t.clock.advance(1000);
    const b = await login('list@example.com', 'Agent B');
    t.clock.advance(1000);
    const c = await login('list@example.com', 'Agent C');
    expect((await t.gql(REVOKE, { id: c.sessionId }, { token: b.token })).body.data.revokeSession).toBe(true);

    const r = await t.gql(MY_SESSIONS, {}, { token: b.token });
    expect(r.body.errors).toBeUndefined();
    const sessions = r.body.data.mySessions;
    expect(sessions.map((s: { id: string }) => s.id)).toEqual([b.sessionId, a.sessionId]);
    expect(sessions.map((s: { current: boolean }) => s.current)).toEqual([true, false]);
    for (const s of sessions) expect(s).toMatchObject({ method: 'PASSWORD', ipAddress: '127.0.0.1' });
    expect(sessions.map((s: { userAgent: string }) => s.userAgent)).toEqual(['Agent B', 'Agent A']);
    expect(Date.parse(sessions[0].createdAt)).toBe(Date.parse(sessions[1].createdAt) + 1000);
    await expectAlive(stranger.token, stranger.userId); // a live session of someone else, not listed
    // The expired session is still in the table, unrevoked: it is left out because it expired.
    expect((await sessionRow(expiredId)).revokedAt).toBeNull();
  });
});

describe('logout', () => {
  it('revokes the calling session at once with reason LOGOUT and leaves the others alive', async () => {
    const { token, sessionId, userId } = await t.register('logout@example.com', PASSWORD);
    const other = await login('logout@example.com');
    const r = await t.gql(LOGOUT, {}, { token });
    expect(r.body).toEqual({ data: { logout: true } });
    await expectDead(token);
    const row = await sessionRow(sessionId);
    expect(row.revokeReason).toBe('LOGOUT');
    expect(row.revokedAt).toEqual(t.clock.now());
    await expectAlive(other.token, userId);
    expect((await sessionRow(other.sessionId)).revokedAt).toBeNull();
  });
});

describe('revokeSession', () => {
  it('revokes one of your own other sessions with reason REVOKED_BY_USER and kills its token', async () => {
    const me = await t.register('revoke@example.com', PASSWORD);
    const other = await login('revoke@example.com');
    const r = await t.gql(REVOKE, { id: other.sessionId }, { token: me.token });
    expect(r.body).toEqual({ data: { revokeSession: true } });
    await expectDead(other.token);
    expect(await sessionRow(other.sessionId)).toMatchObject({ revokeReason: 'REVOKED_BY_USER', revokedAt: t.clock.now() });
    await expectAlive(me.token, me.userId);
  });

  it("returns false and changes nothing for another user's session, an unknown id, a non-uuid or a revoked one", async () => {
    const me = await t.register('revoke-false@example.com', PASSWORD);
    const victim = await t.register('revoke-victim@example.com', PASSWORD);
    const gone = await login('revoke-false@example.com');
    await t.gql(REVOKE, { id: gone.sessionId }, { token: me.token });
    const revokedAt = (await sessionRow(gone.sessionId)).revokedAt;
    t.clock.advance(MINUTE); // a second revocation would write a later revokedAt
    await expectAlive(me.token, me.userId); // touch now, so the calls below have nothing to touch
    const before = await snapshot();

    for (const id of [victim.sessionId, randomUUID(), 'not-a-uuid', gone.sessionId]) {
      const r = await t.gql(REVOKE, { id }, { token: me.token });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ data: { revokeSession: false } });
    }
    expect(await snapshot()).toEqual(before);
    await expectAlive(victim.token, victim.userId);
    expect(await sessionRow(gone.sessionId)).toMatchObject({ revokeReason: 'REVOKED_BY_USER', revokedAt });
  });
});

describe('revokeOtherSessions', () => {
  it('revokes every other session of the caller, returns how many, keeps the current one; then returns 0', async () => {
    const me = await t.register('others@example.com', PASSWORD);
    const second = await login('others@example.com');
    const third = await login('others@example.com');
    const stranger = await t.register('others-stranger@example.com', PASSWORD);

    expect((await t.gql(REVOKE_OTHERS, {}, { token: me.token })).body).toEqual({ data: { revokeOtherSessions: 2 } });
    await expectAlive(me.token, me.userId);
    for (const s of [second, third]) {
      await expectDead(s.token);
      expect((await sessionRow(s.sessionId)).revokeReason).toBe('REVOKED_BY_USER');
    }
    expect((await sessionRow(me.sessionId)).revokedAt).toBeNull();
    await expectAlive(stranger.token, stranger.userId);
    expect((await t.gql(REVOKE_OTHERS, {}, { token: me.token })).body).toEqual({ data: { revokeOtherSessions: 0 } });
    await expectAlive(me.token, me.userId);
  });
});

describe('expiry', () => {
  it('refuses a token unused for 7 days + 1 ms, while one used just before stays alive', async () => {
    const used = await t.register('idle@example.com', PASSWORD);
    const unused = await login('idle@example.com');
    t.clock.advance(7 * DAY - 1);
    await expectAlive(used.token, used.userId);
    t.clock.advance(2);
    await expectDead(unused.token);
    await expectAlive(used.token, used.userId);
  });

  it('keeps a token used every 6 days alive up to the 30-day absolute lifetime, and not after', async () => {
    const s = await t.register('absolute@example.com', PASSWORD);
    const createdAt = (await sessionRow(s.sessionId)).createdAt as Date;
    for (let day = 6; day <= 24; day += 6) {
      t.clock.advance(6 * DAY);
      await expectAlive(s.token, s.userId);
    }
    t.clock.advance(5 * DAY); // day 29: the idle limit (day 36) is past the absolute one
    const list = await t.gql(MY_SESSIONS, {}, { token: s.token });
    expect(Date.parse(list.body.data.mySessions[0].expiresAt)).toBe(createdAt.getTime() + 30 * DAY);
    t.clock.advance(DAY - 1);
    await expectAlive(s.token, s.userId);
    t.clock.advance(1);
    await expectDead(s.token);
  });

  it('writes lastSeenAt at most once a minute and moves the idle expiry with it', async () => {
    const s = await t.register('touch@example.com', PASSWORD);
    const start = t.clock.now().getTime();
    expect((await sessionRow(s.sessionId)).lastSeenAt.getTime()).toBe(start);
    t.clock.advance(10_000);
    await expectAlive(s.token, s.userId);
    t.clock.advance(10_000);
    await expectAlive(s.token, s.userId);
    let row = await sessionRow(s.sessionId);
    expect(row.lastSeenAt.getTime()).toBe(start);
    expect(row.idleExpiresAt.getTime()).toBe(start + 7 * DAY);

    t.clock.advance(41_000); // 61 s after the last write
    await expectAlive(s.token, s.userId);
    row = await sessionRow(s.sessionId);
    expect(row.lastSeenAt.getTime()).toBe(start + 61_000);
    expect(row.idleExpiresAt.getTime()).toBe(start + 61_000 + 7 * DAY);

    t.clock.advance(10_000);
    await expectAlive(s.token, s.userId);
    expect((await sessionRow(s.sessionId)).lastSeenAt.getTime()).toBe(start + 61_000);
  });

  it('reports Session.expiresAt as the earlier of the idle and absolute limits', async () => {
    const r = await t.gql(`mutation($input: RegisterInput!) { register(input: $input) { token session { id createdAt expiresAt } } }`, {
      input: { email: 'expires@example.com', password: PASSWORD },
    });
    const { session } = r.body.data.register;
    const createdAt = Date.parse(session.createdAt);
    expect(Date.parse(session.expiresAt)).toBe(createdAt + 7 * DAY);
    const row = await sessionRow(session.id);
    expect(row.expiresAt.getTime()).toBe(createdAt + 30 * DAY);
    expect(row.idleExpiresAt.getTime()).toBe(createdAt + 7 * DAY);
    t.clock.advance(2 * DAY);
    const list = await t.gql(MY_SESSIONS, {}, { token: r.body.data.register.token });
    expect(Date.parse(list.body.data.mySessions[0].expiresAt)).toBe(createdAt + 9 * DAY);
    expect(Date.parse(list.body.data.mySessions[0].lastSeenAt)).toBe(createdAt + 2 * DAY);
  });
});

describe('anonymous callers', () => {
  it('get UNAUTHENTICATED from mySessions, logout, revokeSession and revokeOtherSessions, and nothing is written', async () => {
    const victim = await t.register('anon-victim@example.com', PASSWORD);
    await expectAlive(victim.token, victim.userId);
    const before = await snapshot();
    for (const [query, variables] of [
      [MY_SESSIONS, {}],
      [LOGOUT, {}],
      [REVOKE, { id: victim.sessionId }],
      [REVOKE_OTHERS, {}],
    ] as const) {
      const r = await t.gql(query, variables);
      expectUnauthenticated(r);
      expect(r.body.data).toBeNull();
    }
    expect(await snapshot()).toEqual(before);
    await expectAlive(victim.token, victim.userId);
  });
});

describe('token storage', () => {
  it('stores only the SHA-256 (base64url) of the token, never the token itself', async () => {
    const s = await t.register('hash@example.com', PASSWORD);
    const expected = createHash('sha256').update(s.token).digest('base64url');
    expect((await sessionRow(s.sessionId)).tokenHash).toBe(expected);
    expect(expected).not.toBe(s.token);
    const rows = await t.db.query<{ json: string }>(`SELECT row_to_json(s)::text AS json FROM "Session" s`);
    expect(rows.length).toBeGreaterThan(0);
    for (const { json } of rows) expect(json).not.toContain(s.token);
    const users = await t.db.query<{ json: string }>(`SELECT row_to_json(u)::text AS json FROM "User" u`);
    for (const { json } of users) expect(json).not.toContain(s.token);
  });
});
