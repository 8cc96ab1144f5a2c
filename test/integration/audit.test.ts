import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeOf, startTestApp, type GqlResult, type TestApp } from '../helpers/app.ts';
import { auditRows, makeAdmin, recordFeed, untilFeedLive, type RecordedFeed, type SignedIn } from '../helpers/admin.ts';
import { PASSWORD, login } from '../helpers/realtime.ts';
import { eventually } from '../helpers/eventually.ts';
import { connectWs, type WsConnection } from '../../scripts/ws-connection.ts';

// The audit log (issue 8): written by the services, in the transaction of the write it
// accompanies; paged newest first with filters (adminAuditEvents); streamed live to admins from
// every instance (adminAuditFeed over graphql-ws).

const EVENTS = `query($first: Int, $after: String, $userId: ID, $actorId: ID, $type: String) {
  adminAuditEvents(first: $first, after: $after, userId: $userId, actorId: $actorId, type: $type) {
    edges { cursor node { id type userId actorId ipAddress userAgent data createdAt } } pageInfo { hasNextPage endCursor }
  }
}`;
const AGENT = { 'user-agent': 'audit-test/1.0' };

let t: TestApp;
let admin: SignedIn;
const open: WsConnection[] = [];

beforeAll(async () => {
  t = await startTestApp();
  admin = await makeAdmin(t, 'auditor@example.com');
});
afterAll(async () => {
  for (const c of open) await c.dispose();
  t.app.server.closeAllConnections();
  await t.close();
});

const feedOf = async (app: TestApp, token: string): Promise<RecordedFeed> => {
  const c = connectWs(app.url, { token });
  open.push(c);
  const feed = recordFeed(c);
  await untilFeedLive(app, feed);
  return feed;
};

/** Every page of adminAuditEvents with these filters, newest first. */
async function allEvents(filters: Record<string, unknown>, first = 3): Promise<any[]> {
  const nodes: any[] = [];
  let after: string | null = null;
  for (;;) {
    const r: GqlResult = await t.gql(EVENTS, { ...filters, first, after }, { token: admin.token });
    expect(r.body.errors).toBeUndefined();
    nodes.push(...r.body.data.adminAuditEvents.edges.map((e: any) => e.node));
    const { hasNextPage, endCursor } = r.body.data.adminAuditEvents.pageInfo;
    if (!hasNextPage) return nodes;
    after = endCursor;
  }
}

describe('a scripted scenario: register, failed login, login, lock, unlock, delete', () => {
  const scenario = ['user.registered', 'login.failed', 'login.succeeded', 'user.locked', 'session.revoked', 'user.unlocked', 'admin.user.deleted'];

  it('leaves the expected events in order, with actor and target, and the feed delivers them live', async () => {
    const feed = await feedOf(t, admin.token);
    const email = 'scripted@example.com';
    // The clock stands still: order within one millisecond must hold too.
    const registered = await t.gql(
      `mutation($input: RegisterInput!) { register(input: $input) { token user { id } session { id } } }`,
      { input: { email, password: PASSWORD } },
      { headers: AGENT },
    );
    const userId = registered.body.data.register.user.id as string;
    const firstSession = registered.body.data.register.session.id as string;
    const failed = await t.gql(`mutation { login(input: { email: "${email}", password: "not my password" }) { token } }`, {}, { headers: AGENT });
    expect(codeOf(failed)).toBe('UNAUTHENTICATED');
    const second = await t.gql(`mutation { login(input: { email: "${email}", password: "${PASSWORD}" }) { session { id } } }`, {}, { headers: AGENT });
    const secondSession = second.body.data.login.session.id as string;
    const act = (query: string) => t.gql(query, { id: userId }, { token: admin.token, headers: AGENT });
    expect((await act(`mutation($id: ID!) { adminLockUser(id: $id, reason: "scripted") { locked } }`)).body.errors).toBeUndefined();
    expect((await act(`mutation($id: ID!) { adminUnlockUser(id: $id) { locked } }`)).body.errors).toBeUndefined();
    expect((await act(`mutation($id: ID!) { adminDeleteUser(id: $id) }`)).body.errors).toBeUndefined();

    const byAdmin = { actorId: admin.userId, userId };
    const bySelf = { actorId: null, userId };
    const expected = [
      { type: 'user.registered', ...bySelf, data: { method: 'PASSWORD', sessionId: firstSession } },
      { type: 'login.failed', ...bySelf, data: { method: 'PASSWORD', reason: 'wrong_password' } },
      { type: 'login.succeeded', ...bySelf, data: { method: 'PASSWORD', sessionId: secondSession } },
      { type: 'user.locked', ...byAdmin, data: { reason: 'scripted', until: null } },
      { type: 'session.revoked', ...byAdmin, data: { reason: 'USER_LOCKED', count: 2, sessionIds: expect.arrayContaining([firstSession, secondSession]) } },
      { type: 'user.unlocked', ...byAdmin, data: { wasLocked: true } },
      { type: 'admin.user.deleted', ...byAdmin, data: { email, role: 'USER' } },
    ];

    // In the database (kept after the delete), oldest first.
    const stored = (await auditRows(t, `"userId" = $1`, [userId])).filter((e) => scenario.includes(e.type));
    expect(stored).toEqual(expected.map((e) => expect.objectContaining(e)));
    for (const e of stored) expect(e).toMatchObject({ ipAddress: expect.stringContaining('127.0.0.1'), userAgent: 'audit-test/1.0' });

    // Through adminAuditEvents, newest first, walked in pages of 3.
    const listed = (await allEvents({ userId })).filter((e) => scenario.includes(e.type));
    expect(listed.map((e) => ({ ...e, data: JSON.parse(e.data) }))).toEqual([...expected].reverse().map((e) => expect.objectContaining(e)));

    // Live, in the same order.
    await eventually(() => feed.events.filter((e) => e.userId === userId).length >= expected.length, 'the scenario on the feed');
    const live = feed.events.filter((e) => e.userId === userId && scenario.includes(e.type));
    expect(live.map((e) => ({ ...e, data: JSON.parse(e.data!) }))).toEqual(expected.map((e) => expect.objectContaining(e)));
    expect(live.map((e) => e.id)).toEqual(stored.map((e) => e.id));

    // Nothing in the log holds a password.
    const everything = JSON.stringify(await auditRows(t));
    expect(everything).not.toContain(PASSWORD);
    expect(everything).not.toContain('not my password');
  });
});

describe('what else is audited', () => {
  it('login failures say why (unknown address with the address tried; locked by an admin); failed passwords never lock', async () => {
    await t.gql(`mutation { login(input: { email: "Ghost@Example.com", password: "whatever it is" }) { token } }`);
    const [ghost] = await auditRows(t, `type = 'login.failed' AND data LIKE '%ghost@example.com%'`);
    expect(ghost).toMatchObject({ userId: null, data: { method: 'PASSWORD', reason: 'unknown_email', email: 'ghost@example.com' } });

    const attempt = (email: string, password: string) =>
      t.gql(`mutation($input: LoginInput!) { login(input: $input) { token } }`, { input: { email, password } });
    const u = await t.register('hammered@example.com');
    const codes = [];
    for (let i = 0; i < 7; i++) codes.push(codeOf(await attempt('hammered@example.com', `wrong guess ${i}`)));
    expect(codes).toEqual([...Array(5).fill('UNAUTHENTICATED'), 'RATE_LIMITED', 'RATE_LIMITED']);
    // The five checked passwords are audited; the throttled attempts checked none and wrote nothing.
    // No user.locked: failed passwords throttle the address, they never lock the account.
    expect((await auditRows(t, `"userId" = $1`, [u.userId])).map((e) => [e.type, e.data?.reason])).toEqual([
      ['user.registered', undefined],
      ...Array.from({ length: 5 }, () => ['login.failed', 'wrong_password']),
    ]);

    const s = await t.register('suspended@example.com');
    expect((await t.gql(`mutation($id: ID!) { adminLockUser(id: $id) { locked } }`, { id: s.userId }, { token: admin.token })).body.errors).toBeUndefined();
    expect([codeOf(await attempt('suspended@example.com', 'wrong guess')), codeOf(await attempt('suspended@example.com', PASSWORD))]).toEqual([
      'UNAUTHENTICATED',
      'LOCKED',
    ]);
    const failures = await auditRows(t, `"userId" = $1 AND type = 'login.failed'`, [s.userId]);
    expect(failures.map((e) => [e.actorId, e.data])).toEqual([
      [null, { method: 'PASSWORD', reason: 'wrong_password' }],
      [null, { method: 'PASSWORD', reason: 'locked' }],
    ]);
  });

  it('password change, logout, revocations and admin actions, each with its actor', async () => {
    const u = await t.register('busy@example.com');
    const other = await login(t, 'busy@example.com');
    const third = await login(t, 'busy@example.com');
    await t.gql(`mutation { logout }`, {}, { token: third.token });
    await t.gql(
      `mutation($input: ChangePasswordInput!) { changePassword(input: $input) }`,
      { input: { currentPassword: PASSWORD, newPassword: 'another passphrase' } },
      { token: u.token },
    );
    const fresh = await login(t, 'busy@example.com', 'another passphrase');
    await t.gql(`mutation { revokeOtherSessions }`, {}, { token: fresh.token });
    await t.gql(
      `mutation($id: ID!) { adminUpdateUser(id: $id, input: { name: "Busy", emailVerified: true }) { id } }`,
      { id: u.userId },
      { token: admin.token },
    );
    await t.gql(`mutation($id: ID!) { adminRevokeSessions(userId: $id) }`, { id: u.userId }, { token: admin.token });
    const created = await t.gql(`mutation { adminCreateUser(input: { email: "made@example.com" }) { id } }`, {}, { token: admin.token });

    const events = await auditRows(t, `"userId" = $1 AND type NOT LIKE 'login.%' AND type <> 'user.registered'`, [u.userId]);
    expect(events.map((e) => ({ type: e.type, actorId: e.actorId, data: e.data }))).toEqual([
      { type: 'session.revoked', actorId: null, data: { reason: 'LOGOUT', count: 1, sessionIds: [third.sessionId] } },
      { type: 'password.changed', actorId: null, data: { hadPassword: true } },
      { type: 'session.revoked', actorId: null, data: { reason: 'PASSWORD_CHANGED', count: 1, sessionIds: [other.sessionId] } },
      { type: 'session.revoked', actorId: null, data: { reason: 'REVOKED_BY_USER', count: 1, sessionIds: [u.sessionId] } },
      { type: 'admin.user.updated', actorId: admin.userId, data: { changes: { name: { from: null, to: 'Busy' }, emailVerified: { from: false, to: true } } } },
      { type: 'session.revoked', actorId: admin.userId, data: { reason: 'REVOKED_BY_ADMIN', count: 1, sessionIds: [fresh.sessionId] } },
      { type: 'admin.sessions.revoked', actorId: admin.userId, data: { count: 1 } },
    ]);
    const [made] = await auditRows(t, `"userId" = $1`, [created.body.data.adminCreateUser.id]);
    expect(made).toMatchObject({ type: 'admin.user.created', actorId: admin.userId, data: { email: 'made@example.com', role: 'USER', hasPassword: false } });
  });

  it('filters: by user, by actor, by type; pages stay exact', async () => {
    const byActor = await allEvents({ actorId: admin.userId }, 4);
    expect(byActor.length).toBeGreaterThan(5);
    expect(byActor.every((e) => e.actorId === admin.userId)).toBe(true);
    const failures = await allEvents({ type: 'login.failed' }, 7);
    const stored = await auditRows(t, `type = 'login.failed'`);
    expect(failures.map((e) => e.id)).toEqual(stored.map((e) => e.id).reverse());
    expect(await allEvents({ type: 'no.such.type' })).toEqual([]);
    const everything = await allEvents({}, 100);
    expect(everything.map((e) => e.id)).toEqual((await auditRows(t)).map((e) => e.id).reverse());
  });

  it('login.succeeded is written in the sign-in transaction: when it cannot be written, no session is opened', async () => {
    await t.register('atomic@example.com');
    await t.db.query(`
      CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'audit refused by test'; END $$;
      CREATE TRIGGER refuse_audit BEFORE INSERT ON "AuditEvent" FOR EACH ROW
        WHEN (NEW.type = 'login.succeeded') EXECUTE FUNCTION refuse_audit();`);
    const sessions = async () =>
      (await t.db.query(`SELECT count(*)::int AS n FROM "Session" s JOIN "User" u ON u.id = s."userId" WHERE u.email = 'atomic@example.com'`))[0].n;
    try {
      const before = await sessions();
      const r = await t.gql(`mutation { login(input: { email: "atomic@example.com", password: "${PASSWORD}" }) { token } }`);
      expect(codeOf(r)).toBe('INTERNAL_SERVER_ERROR');
      expect(await sessions()).toBe(before);
    } finally {
      await t.db.query(`DROP TRIGGER refuse_audit ON "AuditEvent"; DROP FUNCTION refuse_audit();`);
    }
  });
});

describe('adminAuditFeed across instances', () => {
  const env = { REDIS_URL: 'redis://127.0.0.1:6379', REDIS_PREFIX: `test:${randomUUID()}:` };
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    a = await startTestApp({ env });
    b = await startTestApp({ env, db: a.db, clock: a.clock });
  });
  afterAll(async () => {
    for (const app of [b, a]) app.app.server.closeAllConnections();
    await b.close();
    await a.close();
  });

  it('an admin subscribed on instance B hears events made on instance A', async () => {
    const boss = await makeAdmin(a, 'cross-boss@example.com');
    const feed = await feedOf(b, boss.token);
    const u = await a.register('cross-user@example.com');
    await a.gql(`mutation($id: ID!) { adminLockUser(id: $id) { locked } }`, { id: u.userId }, { token: boss.token });
    await eventually(() => feed.events.filter((e) => e.userId === u.userId).length >= 3, 'the events from A on B');
    expect(feed.events.filter((e) => e.userId === u.userId).map((e) => [e.type, e.actorId])).toEqual([
      ['user.registered', null],
      ['user.locked', boss.userId],
      ['session.revoked', boss.userId],
    ]);
  });
});
