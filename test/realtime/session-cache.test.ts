import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { makeAdmin, type SignedIn } from '../helpers/admin.ts';

// The session cache across two instances sharing the database and Redis: both answer `me` from
// their cache (hits counted), and a logout, revokeSession, admin lock, admin delete or password
// change made on A is refused on A at once and on B within a second; a role change shows on the
// next `me` on both.

const ME = `{ me { id email role } }`;
const PASSWORD = 'correct horse battery';
const env = { REDIS_URL: 'redis://127.0.0.1:6379', REDIS_PREFIX: `test:${randomUUID()}:` };
let a: TestApp;
let b: TestApp;
let admin: SignedIn;

beforeAll(async () => {
  a = await startTestApp({ env });
  b = await startTestApp({ env, db: a.db, clock: a.clock });
  admin = await makeAdmin(a, 'cache-admin@example.com');
});
afterAll(async () => {
  await b.close();
  await a.close();
});

const hits = (t: TestApp) => t.app.services.sessions.cacheStats.hits;

/** `me` works on both instances, and its second call on each is a cache hit. */
async function servedFromCache(token: string): Promise<void> {
  for (const t of [a, b]) {
    expect((await t.gql(ME, {}, { token })).body.data?.me).toBeTruthy();
    const before = hits(t);
    expect((await t.gql(ME, {}, { token })).body.data?.me).toBeTruthy();
    expect(hits(t)).toBe(before + 1);
  }
}

/** The session that made the change goes on (from the database while the change is recent). */
async function stillServed(token: string): Promise<void> {
  for (const t of [a, b]) expect((await t.gql(ME, {}, { token })).body.data?.me).toBeTruthy();
}

const refused = async (t: TestApp, token: string) => (await t.gql(ME, {}, { token })).status === 401;

/** Refused on A at once; on B within a second (polled, no fixed sleep). */
async function expectDeadEverywhere(token: string): Promise<void> {
  expect(await refused(a, token)).toBe(true);
  const deadline = Date.now() + 1000;
  while (!(await refused(b, token))) {
    if (Date.now() > deadline) throw new Error('still served on instance B after 1 s');
    await new Promise((r) => setTimeout(r, 20));
  }
  expect(await refused(a, token)).toBe(true);
}

async function login(email: string, password = PASSWORD): Promise<SignedIn> {
  const r = await a.gql(`mutation($input: LoginInput!) { login(input: $input) { token user { id } session { id } } }`, {
    input: { email, password },
  });
  const { token, user, session } = r.body.data.login;
  return { token, userId: user.id, sessionId: session.id };
}

describe('a cached session ends on every instance', () => {
  it('at logout', async () => {
    const user = await a.register('cache-logout@example.com');
    await servedFromCache(user.token);
    expect((await a.gql(`mutation { logout }`, {}, { token: user.token })).body.data.logout).toBe(true);
    await expectDeadEverywhere(user.token);
  });

  it('at revokeSession', async () => {
    const user = await a.register('cache-revoke@example.com');
    const other = await login('cache-revoke@example.com');
    await servedFromCache(other.token);
    const r = await a.gql(`mutation($id: ID!) { revokeSession(id: $id) }`, { id: other.sessionId }, { token: user.token });
    expect(r.body.data.revokeSession).toBe(true);
    await expectDeadEverywhere(other.token);
    await stillServed(user.token);
  });

  it('at an admin lock', async () => {
    const user = await a.register('cache-lock@example.com');
    await servedFromCache(user.token);
    const r = await a.gql(`mutation($id: ID!) { adminLockUser(id: $id) { locked } }`, { id: user.userId }, { token: admin.token });
    expect(r.body.errors).toBeUndefined();
    await expectDeadEverywhere(user.token);
  });

  it('at an admin delete', async () => {
    const user = await a.register('cache-delete@example.com');
    await servedFromCache(user.token);
    const r = await a.gql(`mutation($id: ID!) { adminDeleteUser(id: $id) }`, { id: user.userId }, { token: admin.token });
    expect(r.body.data.adminDeleteUser).toBe(true);
    await expectDeadEverywhere(user.token);
  });

  it('at a password change (every other session of the user)', async () => {
    const user = await a.register('cache-password@example.com');
    const other = await login('cache-password@example.com');
    await servedFromCache(other.token);
    const r = await a.gql(
      `mutation($input: ChangePasswordInput!) { changePassword(input: $input) }`,
      {
        input: { currentPassword: PASSWORD, newPassword: 'a brand new passphrase' },
      },
      { token: user.token },
    );
    expect(r.body.data.changePassword).toBe(true);
    await expectDeadEverywhere(other.token);
    await stillServed(user.token);
  });
});

it('shows a role change on the next `me` on both instances', async () => {
  const user = await a.register('cache-role@example.com');
  await servedFromCache(user.token);
  const r = await a.gql(`mutation($id: ID!) { adminUpdateUser(id: $id, input: { role: ADMIN }) { role } }`, { id: user.userId }, { token: admin.token });
  expect(r.body.data.adminUpdateUser.role).toBe('ADMIN');
  for (const t of [a, b]) expect((await t.gql(ME, {}, { token: user.token })).body.data.me.role).toBe('ADMIN');
});

it('answers no `me` sent after the logout was answered, while `me` is hammered on the same instance', async () => {
  const user = await a.register('cache-hammer@example.com');
  await servedFromCache(user.token);
  let answeredAt = Number.POSITIVE_INFINITY;
  let lateSuccesses = 0;
  let served = 0;
  let stop = false;
  const hammer = async () => {
    while (!stop) {
      const sentAt = performance.now();
      const ok = !(await refused(a, user.token));
      if (ok) served++;
      if (ok && sentAt > answeredAt) lateSuccesses++;
    }
  };
  const workers = Array.from({ length: 8 }, hammer);
  await new Promise((r) => setTimeout(r, 100));
  const r = await a.gql(`mutation { logout }`, {}, { token: user.token });
  answeredAt = performance.now();
  expect(r.body.data.logout).toBe(true);
  await new Promise((r) => setTimeout(r, 200));
  stop = true;
  await Promise.all(workers);
  expect(served).toBeGreaterThan(0);
  expect(lateSuccesses).toBe(0);
});
