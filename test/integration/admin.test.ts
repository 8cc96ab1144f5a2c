import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeOf, startTestApp, type GqlResult, type TestApp } from '../helpers/app.ts';
import { auditRows, makeAdmin, type SignedIn } from '../helpers/admin.ts';
import { login } from '../helpers/realtime.ts';
import { failuresOf, throttleRow } from '../helpers/throttle.ts';

// Admin user management (issue 8): listing with cursor pagination and filters, one user in
// detail, create, update, lock/unlock, delete, revoke sessions. Who may call these is tested in
// test/security/admin.test.ts.

let t: TestApp;
let admin: SignedIn;

beforeAll(async () => {
  t = await startTestApp();
  admin = await makeAdmin(t, 'boss@example.com');
});
afterAll(async () => {
  await t.close();
});

const as = <T = any>(query: string, variables: Record<string, unknown> = {}): Promise<GqlResult<T>> => t.gql<T>(query, variables, { token: admin.token });

const PAGE = `query($first: Int, $after: String, $query: String, $role: Role) {
  adminUsers(first: $first, after: $after, query: $query, role: $role) {
    totalCount edges { cursor node { id email name role } } pageInfo { hasNextPage endCursor }
  }
}`;

/** Walks every page of a listing; returns the ids in order and every totalCount seen. */
async function walk(filters: Record<string, unknown>, first: number, between?: (page: number) => Promise<void>) {
  const ids: string[] = [];
  const totals = new Set<number>();
  let after: string | null = null;
  for (let page = 0; page < 100; page++) {
    const r: GqlResult = await as(PAGE, { ...filters, first, after });
    expect(r.body.errors).toBeUndefined();
    const { edges, pageInfo, totalCount } = r.body.data.adminUsers;
    totals.add(totalCount);
    ids.push(...edges.map((e: any) => e.node.id));
    if (edges.length) expect(pageInfo.endCursor).toBe(edges.at(-1).cursor);
    if (!pageInfo.hasNextPage) return { ids, totals };
    after = pageInfo.endCursor;
    await between?.(page);
  }
  throw new Error('the listing never ended');
}

describe('adminUsers', () => {
  beforeAll(async () => {
    // 250 users in one statement, many sharing a createdAt (ties must be broken by id), with
    // mixed-case names; every fifth one is an admin.
    await t.db.query(`
      INSERT INTO "User" (id, email, name, role, "createdAt", "updatedAt")
      SELECT gen_random_uuid(), 'bulk' || i || '@example.com',
             CASE WHEN i % 2 = 0 THEN 'Team BLUE member ' || i ELSE 'Other ' || i END,
             (CASE WHEN i % 5 = 0 THEN 'ADMIN' ELSE 'USER' END)::"Role",
             timestamp '2025-06-01' + (i / 7) * interval '1 minute', now()
      FROM generate_series(1, 250) AS i`);
  });

  it('walks all 250+ users exactly once, newest first, even while users are added meanwhile', async () => {
    const all = (await t.db.query(`SELECT id FROM "User" ORDER BY "createdAt" DESC, id DESC`)).map((r) => r.id);
    expect(all.length).toBeGreaterThanOrEqual(251);
    let added = 0;
    const { ids, totals } = await walk({}, 40, async () => {
      // New accounts sort first, before the cursor: the rest of the walk is not disturbed.
      t.clock.advance(1000);
      await t.register(`added-${added++}@example.com`);
    });
    expect(ids).toEqual(all);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...totals][0]).toBe(all.length);
  });

  it('walks a filtered listing (name substring, any case, and role) exactly once, totalCount matching', async () => {
    const blue = (await t.db.query(`SELECT id FROM "User" WHERE name ILIKE '%team blue%' ORDER BY "createdAt" DESC, id DESC`)).map((r) => r.id);
    expect(blue).toHaveLength(125);
    const byName = await walk({ query: 'tEaM bLuE' }, 17);
    expect(byName.ids).toEqual(blue);
    expect([...byName.totals]).toEqual([125]);

    const blueAdmins = (await t.db.query(`SELECT id FROM "User" WHERE name ILIKE '%team blue%' AND role = 'ADMIN' ORDER BY "createdAt" DESC, id DESC`)).map(
      (r) => r.id,
    );
    expect(blueAdmins).toHaveLength(25);
    const both = await walk({ query: 'team blue', role: 'ADMIN' }, 10);
    expect(both.ids).toEqual(blueAdmins);
    expect([...both.totals]).toEqual([25]);
  });

  it('matches part of the email, case-insensitively; LIKE wildcards are plain characters', async () => {
    const r = await as(PAGE, { query: '  BULK25 ' });
    // Newest first: bulk250 was created after bulk25.
    expect(r.body.data.adminUsers.edges.map((e: any) => e.node.email)).toEqual(['bulk250@example.com', 'bulk25@example.com']);
    expect((await as(PAGE, { query: '%' })).body.data.adminUsers.totalCount).toBe(0);
    expect((await as(PAGE, { query: '_' })).body.data.adminUsers.totalCount).toBe(0);
    expect((await as(PAGE, { query: 'bulk\\' })).body.data.adminUsers.totalCount).toBe(0);
    await t.db.query(`UPDATE "User" SET name = '100% _real\\' WHERE email = 'bulk7@example.com'`);
    expect((await as(PAGE, { query: '0% _REAL\\' })).body.data.adminUsers.edges.map((e: any) => e.node.email)).toEqual(['bulk7@example.com']);
  });

  it('defaults to 20 per page; first: 0 gives only the count; a cursor past the end gives an empty page', async () => {
    const page = await as(PAGE);
    expect(page.body.data.adminUsers.edges).toHaveLength(20);
    expect(page.body.data.adminUsers.pageInfo.hasNextPage).toBe(true);
    const none = await as(PAGE, { first: 0 });
    expect(none.body.data.adminUsers).toMatchObject({ edges: [], pageInfo: { hasNextPage: true, endCursor: null } });
    expect(none.body.data.adminUsers.totalCount).toBeGreaterThan(250);
    const last = await as(PAGE, { role: 'USER', query: 'bulk1@' });
    const end = last.body.data.adminUsers;
    expect(end.pageInfo).toEqual({ hasNextPage: false, endCursor: end.edges[0].cursor });
    expect((await as(PAGE, { after: end.pageInfo.endCursor, query: 'bulk1@' })).body.data.adminUsers.edges).toEqual([]);
  });
});

describe('adminUser', () => {
  const DETAIL = `query($id: ID, $email: String) { adminUser(id: $id, email: $email) {
    user { id email role } locked lockedUntil lockReason failedLoginCount sessions { id method current } oauthProviders } }`;

  it('finds a user by id or exact email (trimmed, any case), with live sessions, lock state and OAuth providers', async () => {
    const u = await t.register('detail@example.com');
    const second = await login(t, 'detail@example.com');
    await t.gql(`mutation { logout }`, {}, { token: second.token });
    await t.db.query(
      `INSERT INTO "OAuthAccount" (id, provider, subject, "userId", "createdAt", "updatedAt")
       VALUES (gen_random_uuid(), 'github', 's1', $1, now(), now()), (gen_random_uuid(), 'corp', 's2', $1, now(), now())`,
      [u.userId],
    );
    const expected = {
      user: { id: u.userId, email: 'detail@example.com', role: 'USER' },
      locked: false,
      lockedUntil: null,
      lockReason: null,
      failedLoginCount: 0,
      sessions: [{ id: u.sessionId, method: 'PASSWORD', current: false }],
      oauthProviders: ['corp', 'github'],
    };
    expect((await as(DETAIL, { id: u.userId })).body.data.adminUser).toEqual(expected);
    expect((await as(DETAIL, { email: '  Detail@EXAMPLE.com ' })).body.data.adminUser).toEqual(expected);
    expect((await as(DETAIL, { email: 'nobody@example.com' })).body.data.adminUser).toBeNull();
  });

  it('shows the failed passwords counted against the address, which never lock it; adminUnlockUser forgets them', async () => {
    const u = await t.register('throttled@example.com');
    const attempt = (password: string) =>
      t.gql(`mutation($input: LoginInput!) { login(input: $input) { token } }`, { input: { email: 'throttled@example.com', password } });
    for (let i = 0; i < 5; i++) expect(codeOf(await attempt(`wrong password ${i}`))).toBe('UNAUTHENTICATED');
    const r = await as(DETAIL, { email: 'throttled@example.com' });
    expect(r.body.data.adminUser).toMatchObject({ locked: false, lockedUntil: null, lockReason: null, failedLoginCount: 5 });
    expect(codeOf(await attempt('correct horse battery'))).toBe('RATE_LIMITED');
    // The count is the throttle's, read per address: exactly what the sign-in sees.
    expect(await failuresOf(t.db, 'throttled@example.com')).toBe(5);

    const unlocked = await as(`mutation($id: ID!) { adminUnlockUser(id: $id) { locked failedLoginCount } }`, { id: u.userId });
    expect(unlocked.body.data.adminUnlockUser).toEqual({ locked: false, failedLoginCount: 0 });
    expect(await throttleRow(t.db, 'throttled@example.com')).toBeUndefined();
    expect((await auditRows(t, `type = 'user.unlocked' AND "userId" = $1`, [u.userId])).map((e) => e.data)).toEqual([{ wasLocked: false }]);
    await login(t, 'throttled@example.com');
  });

  it('needs exactly one of id and email', async () => {
    expect(codeOf(await as(DETAIL))).toBe('BAD_USER_INPUT');
    expect(codeOf(await as(DETAIL, { id: admin.userId, email: 'boss@example.com' }))).toBe('BAD_USER_INPUT');
  });
});

describe('adminCreateUser', () => {
  const CREATE = `mutation($input: AdminCreateUserInput!) { adminCreateUser(input: $input) { id email name role emailVerified hasPassword } }`;

  it('creates a user with a password (who can then sign in), or without one', async () => {
    const r = await as(CREATE, { input: { email: ' New.Person@Example.com ', password: 'a fine passphrase', name: ' Newcomer ' } });
    expect(r.body.data.adminCreateUser).toMatchObject({
      email: 'new.person@example.com',
      name: 'Newcomer',
      role: 'USER',
      emailVerified: false,
      hasPassword: true,
    });
    await login(t, 'new.person@example.com', 'a fine passphrase');
    const bare = await as(CREATE, { input: { email: 'bare@example.com', role: 'ADMIN', emailVerified: true } });
    expect(bare.body.data.adminCreateUser).toMatchObject({ role: 'ADMIN', emailVerified: true, hasPassword: false });
    const [row] = await t.db.query(`SELECT "passwordHash" FROM "User" WHERE email = 'bare@example.com'`);
    expect(row.passwordHash).toBeNull();
  });

  it('CONFLICT on a taken email (any case); BAD_USER_INPUT on a weak password or a bad email; nothing created', async () => {
    const count = async () => (await t.db.query(`SELECT count(*)::int AS n FROM "User"`))[0].n;
    const before = await count();
    expect(codeOf(await as(CREATE, { input: { email: 'BOSS@example.com' } }))).toBe('CONFLICT');
    expect(codeOf(await as(CREATE, { input: { email: 'weak@example.com', password: 'short' } }))).toBe('BAD_USER_INPUT');
    expect(codeOf(await as(CREATE, { input: { email: 'not an email' } }))).toBe('BAD_USER_INPUT');
    expect(await count()).toBe(before);
  });
});

describe('adminUpdateUser', () => {
  it('changes name, role and emailVerified; null and left-out fields keep their value', async () => {
    const u = await t.register('update@example.com');
    const UPDATE = `mutation($id: ID!, $input: AdminUpdateUserInput!) { adminUpdateUser(id: $id, input: $input) { name role emailVerified } }`;
    expect((await as(UPDATE, { id: u.userId, input: { name: 'Ada', role: 'ADMIN', emailVerified: true } })).body.data.adminUpdateUser).toEqual({
      name: 'Ada',
      role: 'ADMIN',
      emailVerified: true,
    });
    expect((await as(UPDATE, { id: u.userId, input: { role: null, emailVerified: null } })).body.data.adminUpdateUser).toEqual({
      name: 'Ada',
      role: 'ADMIN',
      emailVerified: true,
    });
    // The new role applies to the user's very next request.
    expect((await t.gql(`{ adminUsers(first: 1) { totalCount } }`, {}, { token: u.token })).body.errors).toBeUndefined();
    expect((await as(UPDATE, { id: u.userId, input: { name: '', role: 'USER' } })).body.data.adminUpdateUser).toEqual({
      name: null,
      role: 'USER',
      emailVerified: true,
    });
    expect(codeOf(await t.gql(`{ adminUsers(first: 1) { totalCount } }`, {}, { token: u.token }))).toBe('FORBIDDEN');
    expect(codeOf(await as(UPDATE, { id: u.userId, input: { name: 'x'.repeat(101) } }))).toBe('BAD_USER_INPUT');
  });
});

describe('adminDeleteUser and adminRevokeSessions', () => {
  it('adminRevokeSessions revokes every live session (REVOKED_BY_ADMIN) and returns how many', async () => {
    const u = await t.register('revoke-all@example.com');
    const other = await login(t, 'revoke-all@example.com');
    const r = await as(`mutation($id: ID!) { adminRevokeSessions(userId: $id) }`, { id: u.userId });
    expect(r.body.data.adminRevokeSessions).toBe(2);
    const rows = await t.db.query(`SELECT "revokeReason" FROM "Session" WHERE "userId" = $1`, [u.userId]);
    expect(rows.map((x) => x.revokeReason)).toEqual(['REVOKED_BY_ADMIN', 'REVOKED_BY_ADMIN']);
    for (const token of [u.token, other.token]) expect((await t.gql(`{ me { id } }`, {}, { token })).status).toBe(401);
    expect((await as(`mutation($id: ID!) { adminRevokeSessions(userId: $id) }`, { id: u.userId })).body.data.adminRevokeSessions).toBe(0);
  });

  it('adminDeleteUser deletes the user with its sessions, tokens and identities; the audit log stays', async () => {
    const u = await t.register('doomed@example.com');
    await t.db.query(
      `INSERT INTO "OAuthAccount" (id, provider, subject, "userId", "createdAt", "updatedAt") VALUES (gen_random_uuid(), 'github', 'doomed', $1, now(), now())`,
      [u.userId],
    );
    // A magic link sent before the account existed is bound to the address, not the user.
    await t.db.query(
      `INSERT INTO "OneTimeToken" (id, purpose, email, "userId", "tokenHash", "expiresAt", "createdAt")
       VALUES (gen_random_uuid(), 'MAGIC_LINK', 'doomed@example.com', NULL, 'h1', now() + interval '1 hour', now()),
              (gen_random_uuid(), 'PASSWORD_RESET', 'doomed@example.com', $1, 'h2', now() + interval '1 hour', now())`,
      [u.userId],
    );
    const r = await as(`mutation($id: ID!) { adminDeleteUser(id: $id) }`, { id: u.userId });
    expect(r.body).toEqual({ data: { adminDeleteUser: true } });
    for (const sql of [
      `SELECT 1 FROM "User" WHERE id = $1`,
      `SELECT 1 FROM "Session" WHERE "userId" = $1`,
      `SELECT 1 FROM "OAuthAccount" WHERE "userId" = $1`,
    ]) {
      expect(await t.db.query(sql, [u.userId])).toEqual([]);
    }
    expect(await t.db.query(`SELECT 1 FROM "OneTimeToken" WHERE email = 'doomed@example.com'`)).toEqual([]);
    expect((await t.gql(`{ me { id } }`, {}, { token: u.token })).status).toBe(401);
    const audit = await auditRows(t, `"userId" = $1`, [u.userId]);
    expect(audit.map((e) => e.type)).toEqual(['user.registered', 'admin.user.deleted', 'session.revoked']);
    expect(audit.at(-1)!.data).toMatchObject({ reason: 'USER_DELETED', count: 1 });
    // The address is free again.
    await t.register('doomed@example.com');
    expect(codeOf(await as(`mutation($id: ID!) { adminDeleteUser(id: $id) }`, { id: u.userId }))).toBe('BAD_USER_INPUT');
  });

  it('a failure inside the delete rolls everything back, audit events included', async () => {
    const u = await t.register('undeletable@example.com');
    await t.db.query(`
      CREATE FUNCTION refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'refused by test'; END $$;
      CREATE TRIGGER refuse_delete BEFORE DELETE ON "User" FOR EACH ROW
        WHEN (OLD.email = 'undeletable@example.com') EXECUTE FUNCTION refuse_delete();`);
    try {
      const r = await as(`mutation($id: ID!) { adminDeleteUser(id: $id) }`, { id: u.userId });
      expect(codeOf(r)).toBe('INTERNAL_SERVER_ERROR');
      expect((await t.gql(`{ me { id } }`, {}, { token: u.token })).body.data.me.id).toBe(u.userId);
      expect((await auditRows(t, `"userId" = $1`, [u.userId])).map((e) => e.type)).toEqual(['user.registered']);
    } finally {
      await t.db.query(`DROP TRIGGER refuse_delete ON "User"; DROP FUNCTION refuse_delete();`);
    }
  });
});
