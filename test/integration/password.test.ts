import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestApp, type GqlResult, type TestApp } from '../helpers/app.ts';
import { failuresOf, throttleRow } from '../helpers/throttle.ts';
import { metric } from '../helpers/metrics.ts';

const OLD = 'old password 1';
const NEW = 'new password 2';
const PRODUCTION_PREFIX = '$argon2id$v=19$m=19456,t=2,p=1$';
const FAST_PREFIX = '$argon2id$v=19$m=1024,t=1,p=1$';
const ME = `{ me { id hasPassword } }`;
const REGISTER = `mutation($input: RegisterInput!) { register(input: $input) { token user { id hasPassword } } }`;
const LOGIN = `mutation($input: LoginInput!) { login(input: $input) { token user { id } } }`;
const CHANGE = `mutation($input: ChangePasswordInput!) { changePassword(input: $input) }`;

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

const login = (email: string, password: string, app = t) => app.gql(LOGIN, { input: { email, password } });
async function userRow(email: string) {
  const [row] = await t.db.query(`SELECT id, "passwordHash", ("lockedUntil" AT TIME ZONE 'UTC') AS "lockedUntil", "lockReason" FROM "User" WHERE email = $1`, [
    email,
  ]);
  return row;
}
const sessionsOf = (userId: string) => t.db.query(`SELECT id, "revokedAt", "revokeReason" FROM "Session" WHERE "userId" = $1 ORDER BY id`, [userId]);
const loginCounter = (result: string) => metric(t, 'portcullis_logins_total', { method: 'PASSWORD', result });
function expectCode(r: GqlResult, code: string, status: number) {
  expect(r.body.errors?.[0]?.extensions.code).toBe(code);
  expect(r.status).toBe(status);
}
async function expectToken(token: string, alive: boolean) {
  const r = await t.gql(ME, {}, { token });
  if (alive) expect(r.body.data?.me?.id).toBeTruthy();
  else expectCode(r, 'UNAUTHENTICATED', 401);
}

describe('changePassword', () => {
  it('with the right current password switches the password and revokes the other sessions only', async () => {
    const me = await t.register('change@example.com', OLD);
    const others = [(await login('change@example.com', OLD)).body.data.login, (await login('change@example.com', OLD)).body.data.login];
    const before = (await userRow('change@example.com')).passwordHash;

    const r = await t.gql(CHANGE, { input: { currentPassword: OLD, newPassword: NEW } }, { token: me.token });
    expect(r.body).toEqual({ data: { changePassword: true } });
    expect((await userRow('change@example.com')).passwordHash).not.toBe(before);
    await expectToken(me.token, true);
    for (const o of others) await expectToken(o.token, false);
    const rows = await sessionsOf(me.userId);
    expect(rows.find((s) => s.id === me.sessionId)).toMatchObject({ revokedAt: null, revokeReason: null });
    expect(rows.filter((s) => s.revokeReason === 'PASSWORD_CHANGED')).toHaveLength(2);

    expectCode(await login('change@example.com', OLD), 'UNAUTHENTICATED', 401);
    expect((await login('change@example.com', NEW)).body.data.login.user.id).toBe(me.userId);
  });

  it('without or with a wrong current password answers BAD_USER_INPUT and changes nothing', async () => {
    const me = await t.register('change-refused@example.com', OLD);
    const other = (await login('change-refused@example.com', OLD)).body.data.login;
    const before = (await userRow('change-refused@example.com')).passwordHash;

    for (const input of [{ newPassword: NEW }, { currentPassword: null, newPassword: NEW }, { currentPassword: 'wrong password', newPassword: NEW }]) {
      const r = await t.gql(CHANGE, { input }, { token: me.token });
      expectCode(r, 'BAD_USER_INPUT', 400);
      expect(r.body.data).toBeNull();
    }
    expect((await userRow('change-refused@example.com')).passwordHash).toBe(before);
    expect((await sessionsOf(me.userId)).every((s) => s.revokedAt === null)).toBe(true);
    await expectToken(other.token, true);
    expect((await login('change-refused@example.com', OLD)).body.data?.login).toBeTruthy();
    expectCode(await login('change-refused@example.com', NEW), 'UNAUTHENTICATED', 401);
  });

  it('lets a passwordless account set a first password without a current one', async () => {
    const reg = await t.gql(REGISTER, { input: { email: 'first-password@example.com' } });
    const { token } = reg.body.data.register;
    expect(reg.body.data.register.user.hasPassword).toBe(false);

    const r = await t.gql(CHANGE, { input: { newPassword: NEW } }, { token });
    expect(r.body).toEqual({ data: { changePassword: true } });
    expect((await t.gql(ME, {}, { token })).body.data.me.hasPassword).toBe(true);
    expect((await userRow('first-password@example.com')).passwordHash).toMatch(/^\$argon2id\$/);
    expect((await login('first-password@example.com', NEW)).body.data?.login).toBeTruthy();
    // From now on the account has a password, so the current one is required.
    expectCode(await t.gql(CHANGE, { input: { newPassword: 'third password' } }, { token }), 'BAD_USER_INPUT', 400);
  });

  it('refuses a 7-character new password with BAD_USER_INPUT and keeps the old one', async () => {
    const me = await t.register('change-short@example.com', OLD);
    const before = (await userRow('change-short@example.com')).passwordHash;
    const r = await t.gql(CHANGE, { input: { currentPassword: OLD, newPassword: '1234567' } }, { token: me.token });
    expectCode(r, 'BAD_USER_INPUT', 400);
    expect((await userRow('change-short@example.com')).passwordHash).toBe(before);
    expect((await login('change-short@example.com', OLD)).body.data?.login).toBeTruthy();
  });
});

describe('oversized passwords', () => {
  it('answers BAD_USER_INPUT to a 10 KB password on login and register without hashing it', async () => {
    await t.register('huge@example.com', OLD);
    const huge = 'x'.repeat(10 * 1024);
    const failures = await loginCounter('failure');
    const hash = vi.spyOn(t.app.services.hasher, 'hash');
    const verify = vi.spyOn(t.app.services.hasher, 'verify');
    try {
      expectCode(await login('huge@example.com', huge), 'BAD_USER_INPUT', 400);
      expectCode(await login('huge-unknown@example.com', huge), 'BAD_USER_INPUT', 400);
      expectCode(await t.gql(REGISTER, { input: { email: 'huge-new@example.com', password: huge } }), 'BAD_USER_INPUT', 400);
      expect(hash).not.toHaveBeenCalled();
      expect(verify).not.toHaveBeenCalled();
    } finally {
      hash.mockRestore();
      verify.mockRestore();
    }
    expect(await userRow('huge-new@example.com')).toBeUndefined();
    expect(await userRow('huge-unknown@example.com')).toBeUndefined();
    // Refused before the throttle too: an oversized password is not a guess.
    expect(await throttleRow(t.db, 'huge@example.com')).toBeUndefined();
    expect(await throttleRow(t.db, 'huge-unknown@example.com')).toBeUndefined();
    expect(await loginCounter('failure')).toBe(failures);
  });
});

describe('hash parameters', () => {
  it('hashes with argon2id m=19456,t=2,p=1 under the production parameters', async () => {
    const prod = await startTestApp({ configure: (c) => c });
    try {
      await prod.register('prod-hash@example.com', OLD);
      const [row] = await prod.db.query(`SELECT "passwordHash" FROM "User" WHERE email = $1`, ['prod-hash@example.com']);
      expect(row!.passwordHash.startsWith(PRODUCTION_PREFIX)).toBe(true);
      expect((await login('prod-hash@example.com', OLD, prod)).body.data?.login).toBeTruthy();
    } finally {
      await prod.close();
    }
  });

  it('re-hashes a password made with older parameters on a successful login only', async () => {
    await t.register('rehash@example.com', OLD);
    const fast = (await userRow('rehash@example.com')).passwordHash as string;
    expect(fast.startsWith(FAST_PREFIX)).toBe(true);

    const second = await startTestApp({ db: t.db, clock: t.clock, configure: (c) => c });
    try {
      expectCode(await login('rehash@example.com', 'wrong password', second), 'UNAUTHENTICATED', 401);
      expect((await userRow('rehash@example.com')).passwordHash).toBe(fast);
      expect((await login('rehash@example.com', OLD, second)).body.data?.login).toBeTruthy();
      const rehashed = (await userRow('rehash@example.com')).passwordHash as string;
      expect(rehashed.startsWith(PRODUCTION_PREFIX)).toBe(true);
      // Logging in again under the same parameters leaves the new hash alone.
      expect((await login('rehash@example.com', OLD, second)).body.data?.login).toBeTruthy();
      expect((await userRow('rehash@example.com')).passwordHash).toBe(rehashed);
    } finally {
      await second.close();
    }
  });

  it('does not bring an old password back when a re-hash races a password change', async () => {
    const me = await t.register('rehash-race@example.com', OLD);
    const second = await startTestApp({ db: t.db, clock: t.clock, configure: (c) => c });
    const hasher = second.app.services.hasher;
    const original = hasher.hash;
    let release!: () => void;
    let started!: () => void;
    const rehashing = new Promise<void>((resolve) => (started = resolve));
    const spy = vi.spyOn(hasher, 'hash').mockImplementation(async (password) => {
      started();
      await new Promise<void>((resolve) => (release = resolve));
      return original(password);
    });
    try {
      // The login on `second` has verified OLD and is re-hashing it when the password changes.
      const racing = login('rehash-race@example.com', OLD, second);
      await rehashing;
      const change = await t.gql(CHANGE, { input: { currentPassword: OLD, newPassword: NEW } }, { token: me.token });
      expect(change.body).toEqual({ data: { changePassword: true } });
      release();
      expectCode(await racing, 'UNAUTHENTICATED', 401);
      expect(await sessionsOf(me.userId)).toHaveLength(1);
      expectCode(await login('rehash-race@example.com', OLD), 'UNAUTHENTICATED', 401);
      expect((await login('rehash-race@example.com', NEW)).body.data?.login).toBeTruthy();
    } finally {
      spy.mockRestore();
      await second.close();
    }
  });
});

describe('failed password throttle', () => {
  it('five wrong passwords make the next attempt wait 30 s: RATE_LIMITED, HTTP 429, retryAfter; never LOCKED', async () => {
    const email = 'throttle@example.com';
    await t.register(email, OLD);
    const [throttledBefore, lockedBefore] = [await loginCounter('throttled'), await loginCounter('locked')];
    for (let i = 1; i <= 5; i++) {
      expectCode(await login(email, `wrong password ${i}`), 'UNAUTHENTICATED', 401);
      if (i === 4) expect(await throttleRow(t.db, email)).toMatchObject({ failures: 4, blockedUntil: null });
    }
    expect(await throttleRow(t.db, email)).toMatchObject({ failures: 5, blockedUntil: new Date(t.clock.now().getTime() + 30_000) });

    const hasher = t.app.services.hasher;
    const spies = [vi.spyOn(hasher, 'verify'), vi.spyOn(hasher, 'verifyDummy'), vi.spyOn(hasher, 'hash')];
    try {
      const throttled = await login(email, OLD);
      expectCode(throttled, 'RATE_LIMITED', 429);
      expect(throttled.body.errors?.[0]?.extensions.http).toMatchObject({ status: 429 });
      expect(throttled.body.errors?.[0]?.extensions.retryAfter).toBe(30);
      expect(throttled.headers.get('retry-after')).toBe('30');
      expect(throttled.body.data).toBeNull();
      t.clock.advance(20_000);
      const later = await login(email, OLD);
      expectCode(later, 'RATE_LIMITED', 429);
      expect(later.body.errors?.[0]?.extensions.retryAfter).toBe(10);
      // While throttled no password is checked, not even against the dummy hash.
      for (const spy of spies) expect(spy).not.toHaveBeenCalled();
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    expect(await loginCounter('throttled')).toBe(throttledBefore + 2);
    // Refused attempts are not failures: the wait does not grow while nobody may try.
    expect(await throttleRow(t.db, email)).toMatchObject({ failures: 5 });
    expect(await userRow(email)).toMatchObject({ lockedUntil: null, lockReason: null });
    expect(await sessionsOf((await userRow(email)).id)).toHaveLength(1);

    t.clock.advance(10_000);
    expect((await login(email, OLD)).body.data?.login).toBeTruthy();
    expect(await throttleRow(t.db, email)).toBeUndefined();
    expect(await loginCounter('locked')).toBe(lockedBefore);
  });

  it('a right password before the threshold forgets the failures', async () => {
    const email = 'throttle-reset@example.com';
    await t.register(email, OLD);
    for (let i = 0; i < 4; i++) expectCode(await login(email, 'wrong password'), 'UNAUTHENTICATED', 401);
    expect(await failuresOf(t.db, email)).toBe(4);
    expect((await login(email, OLD)).body.data?.login).toBeTruthy();
    expect(await failuresOf(t.db, email)).toBe(0);
    // Four more failures: eight in all, but never five without a success, so nothing waits.
    for (let i = 0; i < 4; i++) expectCode(await login(email, 'wrong password'), 'UNAUTHENTICATED', 401);
    expect(await throttleRow(t.db, email)).toMatchObject({ failures: 4, blockedUntil: null });
    expect((await login(email, OLD)).body.data?.login).toBeTruthy();
    expect(await throttleRow(t.db, email)).toBeUndefined();
    expect(await userRow(email)).toMatchObject({ lockedUntil: null, lockReason: null });
  });
});
