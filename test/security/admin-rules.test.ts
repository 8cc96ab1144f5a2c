import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { codeOf, startTestApp, type TestApp } from '../helpers/app.ts';
import { expectUnchanged, fingerprint, makeAdmin, recordFeed, untilFeedLive, type SignedIn } from '../helpers/admin.ts';
import { within } from '../helpers/realtime.ts';
import { eventually } from '../helpers/eventually.ts';
import { gate } from '../helpers/recovery.ts';
import { connectWs, type WsConnection } from '../../scripts/ws-connection.ts';

// What an admin may do to whom (not to themselves; never remove the last active admin), and an
// admin lock against a user's live sessions and sockets (issue 8 acceptance).

let t: TestApp;
let admin: SignedIn;
const open: WsConnection[] = [];

beforeAll(async () => {
  t = await startTestApp();
  admin = await makeAdmin(t, 'admin@example.com');
});
afterAll(async () => {
  for (const c of open) await c.dispose();
  t.app.server.closeAllConnections();
  await t.close();
});

const ws = (token?: string) => {
  const c = connectWs(t.url, { token });
  open.push(c);
  return c;
};

describe('an admin and their own account', () => {
  it('an admin cannot lock, demote or delete themselves (FORBIDDEN, nothing changed)', async () => {
    const before = await fingerprint(t);
    for (const [query, vars] of [
      [`mutation($id: ID!) { adminLockUser(id: $id) { locked } }`, { id: admin.userId }],
      [`mutation($id: ID!) { adminUpdateUser(id: $id, input: { role: USER }) { role } }`, { id: admin.userId }],
      [`mutation($id: ID!) { adminDeleteUser(id: $id) }`, { id: admin.userId }],
    ] as const) {
      const r = await t.gql(query, vars, { token: admin.token });
      expect(codeOf(r)).toBe('FORBIDDEN');
      expect(r.body.errors![0]!.message).toMatch(/their own account/);
    }
    await expectUnchanged(t, before);
    // Changing their own name is fine.
    const renamed = await t.gql(
      `mutation($id: ID!) { adminUpdateUser(id: $id, input: { name: "Boss" }) { name role } }`,
      { id: admin.userId },
      { token: admin.token },
    );
    expect(renamed.body.data.adminUpdateUser).toEqual({ name: 'Boss', role: 'ADMIN' });
  });
});

describe('the last active admin', () => {
  let solo: TestApp;
  beforeAll(async () => {
    solo = await startTestApp();
  });
  afterAll(async () => {
    solo.app.server.closeAllConnections();
    await solo.close();
  });

  it('two admins demoting each other at the same moment: exactly one succeeds, one admin remains', async () => {
    for (let round = 0; round < 5; round++) {
      await solo.db.query(`UPDATE "User" SET role = 'USER'`);
      const a = await makeAdmin(solo, `a${round}@example.com`);
      const b = await makeAdmin(solo, `b${round}@example.com`);
      const demote = (actor: SignedIn, target: SignedIn) =>
        solo.gql(`mutation($id: ID!) { adminUpdateUser(id: $id, input: { role: USER }) { role } }`, { id: target.userId }, { token: actor.token });
      const results = await Promise.all([demote(a, b), demote(b, a)]);
      expect(results.filter((r) => r.body.data?.adminUpdateUser?.role === 'USER')).toHaveLength(1);
      const refused = results.find((r) => r.body.errors);
      expect(codeOf(refused!)).toBe('FORBIDDEN');
      expect(await solo.db.query(`SELECT id FROM "User" WHERE role = 'ADMIN'`)).toHaveLength(1);
    }
  });

  it('an admin whose fellow admins are all locked cannot demote, lock or delete the last active one', async () => {
    await solo.db.query(`UPDATE "User" SET role = 'USER'`);
    const a = await makeAdmin(solo, 'keeper@example.com');
    const b = await makeAdmin(solo, 'other@example.com');
    // a is locked out (failed logins) but still holds a live session: b is the last active admin.
    await solo.db.query(`UPDATE "User" SET "lockedUntil" = $2 WHERE id = $1`, [a.userId, new Date(solo.clock.now().getTime() + 60_000)]);
    const before = await fingerprint(solo);
    for (const query of [
      `mutation($id: ID!) { adminUpdateUser(id: $id, input: { role: USER }) { role } }`,
      `mutation($id: ID!) { adminLockUser(id: $id) { locked } }`,
      `mutation($id: ID!) { adminDeleteUser(id: $id) }`,
    ]) {
      const r = await solo.gql(query, { id: b.userId }, { token: a.token });
      expect(codeOf(r)).toBe('FORBIDDEN');
      expect(r.body.errors![0]!.message).toMatch(/last active admin/);
    }
    await expectUnchanged(solo, before);
    // Once a is unlocked there are two active admins again, and b may be demoted.
    await solo.db.query(`UPDATE "User" SET "lockedUntil" = NULL WHERE id = $1`, [a.userId]);
    const r = await solo.gql(`mutation($id: ID!) { adminUpdateUser(id: $id, input: { role: USER }) { role } }`, { id: b.userId }, { token: a.token });
    expect(r.body.data.adminUpdateUser.role).toBe('USER');
  });
});

describe('admin lock against live sessions', () => {
  it('lock while the user has an open subscription: USER_LOCKED event, close 4403, login LOCKED; unlock restores login', async () => {
    const email = 'locked-live@example.com';
    const target = await t.register(email);
    const socket = ws(target.token);
    const revoked: any[] = [];
    socket.client.subscribe(
      { query: `subscription { sessionRevoked { sessionId reason } }` },
      { next: (v) => void revoked.push((v.data as any).sessionRevoked), error: () => {}, complete: () => {} },
    );
    // Live once a revocation of another session of the user reaches it.
    await eventually(async () => {
      const s = await t.gql(`mutation { login(input: { email: "${email}", password: "correct horse battery" }) { token } }`);
      await t.gql(`mutation { logout }`, {}, { token: s.body.data.login.token });
      return revoked.length > 0;
    }, 'the subscription to be live');

    const locked = await t.gql(
      `mutation($id: ID!) { adminLockUser(id: $id, reason: "under review") { locked lockedUntil lockReason } }`,
      { id: target.userId },
      { token: admin.token },
    );
    expect(locked.body.data.adminLockUser).toEqual({ locked: true, lockedUntil: null, lockReason: 'under review' });
    expect(await within(socket.closed, 2000, 'close 4403')).toBe(4403);
    expect(revoked.at(-1)).toEqual({ sessionId: target.sessionId, reason: 'USER_LOCKED' });
    expect((await t.gql(`{ me { id } }`, {}, { token: target.token })).status).toBe(401);

    const login = () => t.gql(`mutation { login(input: { email: "${email}", password: "correct horse battery" }) { token } }`);
    const refused = await login();
    expect(refused.status).toBe(423);
    expect(codeOf(refused)).toBe('LOCKED');
    // Locked until unlocked: no retryAfter to wait out.
    expect(refused.body.errors![0]!.extensions.retryAfter).toBeUndefined();
    // Other ways in are closed too: a fresh socket with the old token.
    expect(await within(ws(target.token).closed, 2000, 'a refused connection_init')).toBe(4403);

    await t.gql(`mutation($id: ID!) { adminUnlockUser(id: $id) { locked } }`, { id: target.userId }, { token: admin.token });
    expect((await login()).body.data.login.token).toEqual(expect.any(String));
  });

  it('a lock with `until` answers LOCKED with retryAfter, and ends by itself', async () => {
    const email = 'locked-until@example.com';
    const target = await t.register(email);
    const until = new Date(t.clock.now().getTime() + 3600_000);
    const r = await t.gql(
      `mutation($id: ID!, $until: DateTime) { adminLockUser(id: $id, until: $until) { lockedUntil lockReason } }`,
      { id: target.userId, until: until.toISOString() },
      { token: admin.token },
    );
    expect(r.body.data.adminLockUser).toEqual({ lockedUntil: until.toISOString(), lockReason: 'Locked by an administrator' });
    const login = () => t.gql(`mutation { login(input: { email: "${email}", password: "correct horse battery" }) { token } }`);
    const refused = await login();
    expect(codeOf(refused)).toBe('LOCKED');
    expect(refused.body.errors![0]!.extensions.retryAfter).toBe(3600);
    t.clock.advance(3600_000 + 1);
    expect((await login()).body.data.login.token).toEqual(expect.any(String));
    // No reason is reserved any more (failed passwords never lock): even the old lockout's wording
    // is just an admin's reason, and locks like any other.
    const reason = 'Too many failed sign-in attempts';
    const relocked = await t.gql(
      `mutation($id: ID!, $reason: String) { adminLockUser(id: $id, reason: $reason) { locked lockReason } }`,
      { id: target.userId, reason },
      { token: admin.token },
    );
    expect(relocked.body.data.adminLockUser).toEqual({ locked: true, lockReason: reason });
    expect(codeOf(await login())).toBe('LOCKED');
    // A past or absurd `until` is refused.
    for (const bad of [new Date(t.clock.now().getTime() - 1000).toISOString(), '10000-01-01T00:00:00Z']) {
      const refusedLock = await t.gql(
        `mutation($id: ID!, $until: DateTime) { adminLockUser(id: $id, until: $until) { locked } }`,
        { id: target.userId, until: bad },
        { token: admin.token },
      );
      expect(codeOf(refusedLock)).toBe('BAD_USER_INPUT');
    }
  });

  it('a password sign-in whose check overlaps an admin lock never lifts the lock nor keeps a session', async () => {
    const email = 'overlap@example.com';
    const target = await t.register(email);
    // Holds the sign-in between its read of the account and its final write (while the password
    // is checked), so the lock commits in between, deterministically instead of hoping for a slow hash.
    const hasher = t.app.services.hasher;
    const original = hasher.verify.bind(hasher);
    const [checking, release] = [gate(), gate()];
    const verify = vi.spyOn(hasher, 'verify').mockImplementation(async (hash, password) => {
      checking.open();
      await release.passed;
      return original(hash, password);
    });
    try {
      const signIn = t.gql(`mutation { login(input: { email: "${email}", password: "correct horse battery" }) { token } }`);
      await checking.passed;
      const locked = await t.gql(`mutation($id: ID!) { adminLockUser(id: $id) { locked } }`, { id: target.userId }, { token: admin.token });
      expect(locked.body.data.adminLockUser.locked).toBe(true);
      release.open();
      const r = await signIn;
      expect(r.body.data?.login ?? null).toBeNull();
      expect(codeOf(r)).toBe('UNAUTHENTICATED');
    } finally {
      release.open();
      verify.mockRestore();
    }
    const [row] = await t.db.query(`SELECT "lockedUntil" FROM "User" WHERE id = $1`, [target.userId]);
    expect(row.lockedUntil).toEqual(new Date('9999-12-31T00:00:00.000Z'));
    expect(await t.db.query(`SELECT id FROM "Session" WHERE "userId" = $1 AND "revokedAt" IS NULL`, [target.userId])).toEqual([]);
    expect(codeOf(await t.gql(`mutation { login(input: { email: "${email}", password: "correct horse battery" }) { token } }`))).toBe('LOCKED');
  });

  it('an admin who is demoted stops hearing adminAuditFeed at once', async () => {
    const watcher = await makeAdmin(t, 'watcher@example.com');
    const feed = recordFeed(ws(watcher.token));
    await untilFeedLive(t, feed);
    await t.gql(`mutation($id: ID!) { adminUpdateUser(id: $id, input: { role: USER }) { role } }`, { id: watcher.userId }, { token: admin.token });
    await t.gql(`mutation { login(input: { email: "after-demotion@example.com", password: "not the password" }) { token } }`);
    await eventually(() => feed.completed, 'the feed to end');
    expect(feed.events.filter((e) => e.data?.includes('after-demotion'))).toEqual([]);
    expect(feed.events.filter((e) => e.type === 'admin.user.updated')).toEqual([]);
    // Subscribing again is refused.
    const again = recordFeed(ws(watcher.token));
    await eventually(() => again.errors.length > 0, 'the refusal');
    expect(again.errors[0].extensions.code).toBe('FORBIDDEN');
  });
});
