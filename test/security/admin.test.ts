import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeOf, startTestApp, type TestApp } from '../helpers/app.ts';
import { expectUnchanged, fingerprint, makeAdmin, recordFeed, untilFeedLive, type SignedIn } from '../helpers/admin.ts';
import { eventually } from '../helpers/eventually.ts';
import { connectWs, type WsConnection } from '../../scripts/ws-connection.ts';
import { WEBHOOK_ADMIN_FIELDS } from '../helpers/webhook-receiver.ts';

// SECURITY-CHECKLIST.md item 42 (every admin* field refused to users and anonymous callers, with
// no side effect), item 11 (adminUsers(first: 100000)), and ids that name no user. What an admin
// may do to whom, and locks against live sessions, are in admin-rules.test.ts.

let t: TestApp;
let admin: SignedIn;
let user: SignedIn;
const open: WsConnection[] = [];
let victims = 0;

beforeAll(async () => {
  t = await startTestApp();
  admin = await makeAdmin(t, 'admin@example.com');
  user = await t.register('user@example.com');
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
/** A fresh user with a live session, for an admin field to act on. */
const victim = () => t.register(`victim-${++victims}@example.com`);

type Target = SignedIn & { passkeyId?: string };

interface Case {
  field: string;
  query: string;
  /** Gives the target what the field acts on (a second factor, a passkey), straight in the database. */
  setup?: (target: Target) => Promise<Partial<Target>>;
  variables: (target: Target) => Record<string, unknown>;
  /** What an admin gets. */
  works: (data: any, target: Target) => void | Promise<void>;
}

const cases: Case[] = [
  {
    field: 'adminUsers',
    query: `query { adminUsers(first: 5) { totalCount edges { node { id email } } } }`,
    variables: () => ({}),
    works: (d) => expect(d.adminUsers.totalCount).toBeGreaterThanOrEqual(3),
  },
  {
    field: 'adminUser',
    query: `query($id: ID) { adminUser(id: $id) { user { id } sessions { id } } }`,
    variables: (v) => ({ id: v.userId }),
    works: (d, v) => expect(d.adminUser).toMatchObject({ user: { id: v.userId }, sessions: [{ id: v.sessionId }] }),
  },
  {
    field: 'adminAuditEvents',
    query: `query($userId: ID) { adminAuditEvents(userId: $userId) { edges { node { type userId } } } }`,
    variables: (v) => ({ userId: v.userId }),
    works: (d, v) => expect(d.adminAuditEvents.edges.map((e: any) => e.node)).toContainEqual({ type: 'user.registered', userId: v.userId }),
  },
  {
    field: 'adminCreateUser',
    query: `mutation($input: AdminCreateUserInput!) { adminCreateUser(input: $input) { email role } }`,
    variables: (v) => ({ input: { email: `created-${v.userId}@example.com`, role: 'ADMIN' } }),
    works: (d, v) => expect(d.adminCreateUser).toEqual({ email: `created-${v.userId}@example.com`, role: 'ADMIN' }),
  },
  {
    field: 'adminUpdateUser',
    query: `mutation($id: ID!) { adminUpdateUser(id: $id, input: { name: "Renamed", role: ADMIN, emailVerified: true }) { name role emailVerified } }`,
    variables: (v) => ({ id: v.userId }),
    works: (d) => expect(d.adminUpdateUser).toEqual({ name: 'Renamed', role: 'ADMIN', emailVerified: true }),
  },
  {
    field: 'adminLockUser',
    query: `mutation($id: ID!) { adminLockUser(id: $id, reason: "abuse") { locked lockReason sessions { id } } }`,
    variables: (v) => ({ id: v.userId }),
    works: (d) => expect(d.adminLockUser).toEqual({ locked: true, lockReason: 'abuse', sessions: [] }),
  },
  {
    field: 'adminUnlockUser',
    query: `mutation($id: ID!) { adminUnlockUser(id: $id) { locked } }`,
    variables: (v) => ({ id: v.userId }),
    works: async (d, v) => {
      expect(d.adminUnlockUser).toEqual({ locked: false });
      const [row] = await t.db.query(`SELECT "lockedUntil" FROM "User" WHERE id = $1`, [v.userId]);
      expect(row.lockedUntil).toBeNull();
    },
  },
  {
    field: 'adminDeleteUser',
    query: `mutation($id: ID!) { adminDeleteUser(id: $id) }`,
    variables: (v) => ({ id: v.userId }),
    works: async (d, v) => {
      expect(d.adminDeleteUser).toBe(true);
      expect(await t.db.query(`SELECT id FROM "User" WHERE id = $1`, [v.userId])).toEqual([]);
    },
  },
  {
    field: 'adminRevokeSessions',
    query: `mutation($id: ID!) { adminRevokeSessions(userId: $id) }`,
    variables: (v) => ({ id: v.userId }),
    works: (d) => expect(d.adminRevokeSessions).toBe(1),
  },
  {
    field: 'adminResetSecondFactor',
    query: `mutation($id: ID!) { adminResetSecondFactor(userId: $id) { user { secondFactorEnabled } } }`,
    setup: async (v) => {
      await t.db.query(`UPDATE "User" SET "totpSecret" = 'sealed', "totpEnabledAt" = now() WHERE id = $1`, [v.userId]);
      return {};
    },
    variables: (v) => ({ id: v.userId }),
    works: (d) => expect(d.adminResetSecondFactor.user.secondFactorEnabled).toBe(false),
  },
  {
    field: 'adminDeletePasskey',
    query: `mutation($id: ID!) { adminDeletePasskey(id: $id) }`,
    setup: async (v) => {
      const [row] = await t.db.query<{ id: string }>(
        `INSERT INTO "Passkey" (id, "userId", "credentialId", "publicKey", counter, transports, "deviceType", "backedUp", name, "createdAt")
         VALUES (gen_random_uuid(), $1::uuid, 'credential-' || $1::text, '\\x00', 0, '', 'singleDevice', false, 'Key', now()) RETURNING id`,
        [v.userId],
      );
      return { passkeyId: row!.id };
    },
    variables: (v) => ({ id: v.passkeyId }),
    works: async (d, v) => {
      expect(d.adminDeletePasskey).toBe(true);
      expect(await t.db.query(`SELECT id FROM "Passkey" WHERE id = $1`, [v.passkeyId])).toEqual([]);
    },
  },
];

describe('42. A non-admin calls any admin* field -> FORBIDDEN; no side effect', () => {
  it.each(cases)('$field: UNAUTHENTICATED anonymously, FORBIDDEN for a user, nothing changed; works for an admin', async (c) => {
    const signedIn = await victim();
    const target: Target = { ...signedIn, ...(await c.setup?.(signedIn)) };
    // For adminUnlockUser, a locked target: a refused unlock must leave the lock in place.
    if (c.field === 'adminUnlockUser') await t.db.query(`UPDATE "User" SET "lockedUntil" = '9999-12-31', "lockReason" = 'x' WHERE id = $1`, [target.userId]);
    const before = await fingerprint(t);

    const anonymous = await t.gql(c.query, c.variables(target));
    expect(anonymous.status).toBe(401);
    expect(codeOf(anonymous)).toBe('UNAUTHENTICATED');
    expect(Object.values(anonymous.body.data ?? {})).toEqual(anonymous.body.data ? [null] : []);

    const refused = await t.gql(c.query, c.variables(target), { token: user.token });
    expect(refused.status).toBe(403);
    expect(codeOf(refused)).toBe('FORBIDDEN');
    expect(Object.values(refused.body.data ?? {})).toEqual(refused.body.data ? [null] : []);
    await expectUnchanged(t, before);

    const allowed = await t.gql(c.query, c.variables(target), { token: admin.token });
    expect(allowed.body.errors).toBeUndefined();
    await c.works(allowed.body.data, target);
    // The fingerprint does see what an admin's mutation changes (so it would have seen a refused one).
    if (c.query.startsWith('mutation')) await expect(expectUnchanged(t, before)).rejects.toThrow();
  });

  it('adminAuditFeed: UNAUTHENTICATED anonymously, FORBIDDEN for a user (who hears nothing), live for an admin', async () => {
    const userSocket = ws(user.token);
    const anonymous = recordFeed(ws());
    const refused = recordFeed(userSocket);
    const allowed = recordFeed(ws(admin.token));
    await eventually(() => anonymous.errors.length > 0 && refused.errors.length > 0, 'both refusals');
    expect(anonymous.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    expect(refused.errors[0].extensions.code).toBe('FORBIDDEN');
    await untilFeedLive(t, allowed);
    expect(anonymous.events).toEqual([]);
    expect(refused.events).toEqual([]);
    // The user's socket is still usable: the refusal was of the field, not of the connection.
    expect((await userSocket.request(`{ me { id } }`)).data.me.id).toBe(user.userId);
  });

  it('every admin* field of the schema is covered above', async () => {
    const r = await t.gql(`{ __schema { queryType { fields { name } } mutationType { fields { name } } subscriptionType { fields { name } } } }`);
    const s = r.body.data.__schema;
    const names = [s.queryType, s.mutationType, s.subscriptionType].flatMap((type: any) => type.fields.map((f: any) => f.name));
    // The webhook fields are covered in test/security/webhooks.test.ts.
    expect(names.filter((n: string) => n.startsWith('admin')).sort()).toEqual([...cases.map((c) => c.field), 'adminAuditFeed', ...WEBHOOK_ADMIN_FIELDS].sort());
  });
});

describe('11. adminUsers(first: 100000) -> BAD_USER_INPUT', () => {
  it.each([
    ['a literal', `{ adminUsers(first: 100000) { totalCount } }`, {}],
    ['a variable', `query($n: Int) { adminUsers(first: $n) { edges { node { id } } } }`, { n: 100000 }],
    ['101', `{ adminUsers(first: 101) { totalCount } }`, {}],
    ['-1', `{ adminUsers(first: -1) { totalCount } }`, {}],
    ['adminAuditEvents(first: 100000)', `{ adminAuditEvents(first: 100000) { edges { cursor } } }`, {}],
  ])('%s', async (_name, query, variables) => {
    const r = await t.gql(query, variables, { token: admin.token });
    expect(r.status).toBe(400);
    expect(codeOf(r)).toBe('BAD_USER_INPUT');
    expect(r.body.data ?? null).toBeNull();
  });

  it('100 is served', async () => {
    const r = await t.gql(`{ adminUsers(first: 100) { totalCount } }`, {}, { token: admin.token });
    expect(r.body.errors).toBeUndefined();
  });
});

describe('ids that name no user', () => {
  it('unknown and malformed ids -> BAD_USER_INPUT "No user with this id" (never an internal error); adminUser answers null', async () => {
    const ids = ['00000000-0000-4000-8000-000000000000', 'not-a-uuid', "1' OR '1'='1", '0'.repeat(5000)];
    const before = await fingerprint(t);
    for (const id of ids) {
      for (const query of [
        `mutation($id: ID!) { adminLockUser(id: $id) { locked } }`,
        `mutation($id: ID!) { adminUnlockUser(id: $id) { locked } }`,
        `mutation($id: ID!) { adminDeleteUser(id: $id) }`,
        `mutation($id: ID!) { adminRevokeSessions(userId: $id) }`,
        `mutation($id: ID!) { adminUpdateUser(id: $id, input: { name: "x" }) { id } }`,
        `mutation($id: ID!) { adminUpdateUser(id: $id, input: { role: USER }) { id } }`,
      ]) {
        const r = await t.gql(query, { id }, { token: admin.token });
        expect(codeOf(r), `${query} with ${id.slice(0, 20)}`).toBe('BAD_USER_INPUT');
        expect(r.body.errors![0]!.message).toBe('No user with this id');
      }
      const found = await t.gql(`query($id: ID) { adminUser(id: $id) { user { id } } }`, { id }, { token: admin.token });
      expect(found.body).toEqual({ data: { adminUser: null } });
      const audit = await t.gql(`query($id: ID) { adminAuditEvents(userId: $id) { edges { cursor } } }`, { id }, { token: admin.token });
      if (id === ids[0]) expect(audit.body.data.adminAuditEvents.edges).toEqual([]);
      else expect(codeOf(audit)).toBe('BAD_USER_INPUT');
    }
    for (const after of ['garbage', Buffer.from('2026-01-01T00:00:00.000Z|nope').toString('base64url')]) {
      const r = await t.gql(`query($after: String) { adminUsers(after: $after) { totalCount } }`, { after }, { token: admin.token });
      expect(codeOf(r)).toBe('BAD_USER_INPUT');
    }
    expect(t.logs.some((l) => l.includes('"unexpected error"'))).toBe(false);
    await expectUnchanged(t, before);
  });
});
