import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';

const REGISTER = `mutation($input: RegisterInput!) {
  register(input: $input) { token user { id email name emailVerified role hasPassword createdAt } session { id current method } }
}`;
const LOGIN = `mutation($input: LoginInput!) { login(input: $input) { token user { id email } session { id method current } } }`;
const ME = `{ me { id email name hasPassword } }`;

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

describe('register', () => {
  it('creates the account, signs it in, and stores the email trimmed and lower-cased', async () => {
    const r = await t.gql(REGISTER, { input: { email: '  Ada@Example.COM ', password: 'Pass word 1', name: ' Ada ' } });
    expect(r.status).toBe(200);
    const { token, user, session } = r.body.data.register;
    expect(user).toMatchObject({ email: 'ada@example.com', name: 'Ada', emailVerified: false, role: 'USER', hasPassword: true });
    expect(session).toMatchObject({ current: true, method: 'PASSWORD' });
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const me = await t.gql(ME, {}, { token });
    expect(me.body.data.me).toMatchObject({ id: user.id, email: 'ada@example.com' });
  });

  it('accepts an account without a password', async () => {
    const r = await t.gql(REGISTER, { input: { email: 'nopass@example.com' } });
    expect(r.body.data.register.user.hasPassword).toBe(false);
    const rows = await t.db.query('SELECT "passwordHash" FROM "User" WHERE email = $1', ['nopass@example.com']);
    expect(rows[0]!.passwordHash).toBeNull();
  });

  it('answers CONFLICT for a taken email, whatever its case and spacing, and writes nothing', async () => {
    await t.register('taken@example.com');
    const r = await t.gql(REGISTER, { input: { email: ' TAKEN@example.com', password: 'another password' } });
    expect(r.body.errors?.[0]?.extensions).toMatchObject({ code: 'CONFLICT', http: { status: 409 } });
    expect(r.status).toBe(409);
    const rows = await t.db.query('SELECT count(*)::int AS n FROM "User" WHERE email = $1', ['taken@example.com']);
    expect(rows[0]!.n).toBe(1);
  });

  it.each([['not-an-email'], ['a@'], ['@example.com'], [`${'x'.repeat(250)}@example.com`]])(
    'rejects the invalid email %s with BAD_USER_INPUT',
    async (email) => {
      const r = await t.gql(REGISTER, { input: { email, password: 'long enough' } });
      expect(r.body.errors?.[0]?.extensions.code).toBe('BAD_USER_INPUT');
      expect(r.status).toBe(400);
    },
  );

  it('rejects a 7-character password and a 257-character one, accepts 8 and 256 (code points)', async () => {
    const short = await t.gql(REGISTER, { input: { email: 'short@example.com', password: '1234567' } });
    expect(short.body.errors?.[0]?.extensions.code).toBe('BAD_USER_INPUT');
    const long = await t.gql(REGISTER, { input: { email: 'long@example.com', password: 'a'.repeat(257) } });
    expect(long.body.errors?.[0]?.extensions.code).toBe('BAD_USER_INPUT');
    const rows = await t.db.query(`SELECT count(*)::int AS n FROM "User" WHERE email IN ('short@example.com', 'long@example.com')`);
    expect(rows[0]!.n).toBe(0);
    const emoji = '🔑'.repeat(8); // 8 code points, 16 UTF-16 units
    expect((await t.gql(REGISTER, { input: { email: 'emoji@example.com', password: emoji } })).body.data.register).toBeTruthy();
    expect((await t.gql(REGISTER, { input: { email: 'max@example.com', password: 'é'.repeat(256) } })).body.data.register).toBeTruthy();
  });
});

describe('login', () => {
  it('signs in with the exact password and a case-insensitive email; each sign-in gets a new token', async () => {
    const { token: first } = await t.register('login@example.com', 'Exact Password');
    const r = await t.gql(LOGIN, { input: { email: ' LOGIN@example.com', password: 'Exact Password' } });
    expect(r.body.data.login.session).toMatchObject({ method: 'PASSWORD', current: true });
    expect(r.body.data.login.token).not.toBe(first);
  });

  it('never trims or case-folds the password', async () => {
    await t.register('exact@example.com', 'Exact Password');
    for (const password of [' Exact Password', 'exact password', 'Exact Password ']) {
      const r = await t.gql(LOGIN, { input: { email: 'exact@example.com', password } });
      expect(r.body.errors?.[0]?.extensions.code).toBe('UNAUTHENTICATED');
    }
  });

  it('gives the same code, message and status for an unknown email and a wrong password', async () => {
    await t.register('known@example.com');
    const wrong = await t.gql(LOGIN, { input: { email: 'known@example.com', password: 'wrong password' } });
    const unknown = await t.gql(LOGIN, { input: { email: 'nobody@example.com', password: 'wrong password' } });
    const passwordless = await t.gql(LOGIN, { input: { email: 'nopass@example.com', password: 'wrong password' } });
    for (const r of [wrong, unknown, passwordless]) {
      expect(r.status).toBe(401);
      expect(r.body.data).toBeNull();
      expect(r.body.errors?.[0]?.message).toBe('Invalid email or password');
      expect(r.body.errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED', http: { status: 401 } });
      expect(r.body.errors?.[0]?.extensions.requestId).toEqual(r.headers.get('x-request-id'));
    }
  });

  it('counts logins in /metrics by method and result', async () => {
    const text = await (await fetch(`${t.url}/metrics`)).text();
    expect(text).toMatch(/portcullis_logins_total\{method="PASSWORD",result="success"\} [1-9]/);
    expect(text).toMatch(/portcullis_logins_total\{method="PASSWORD",result="failure"\} [1-9]/);
  });
});

describe('me and profile', () => {
  it('is null without credentials', async () => {
    const r = await t.gql(ME);
    expect(r.status).toBe(200);
    expect(r.body.data.me).toBeNull();
  });

  it('fails every operation with UNAUTHENTICATED when the bearer token is unknown or malformed', async () => {
    for (const authorization of ['Bearer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'Bearer', 'Basic abc', 'Bearer a b']) {
      const r = await t.gql(ME, {}, { headers: { authorization } });
      expect(r.status).toBe(401);
      expect(r.body.errors?.[0]?.extensions.code).toBe('UNAUTHENTICATED');
    }
  });

  it('updates and clears the name', async () => {
    const { token } = await t.register('profile@example.com');
    const UPDATE = `mutation($input: UpdateProfileInput!) { updateProfile(input: $input) { name } }`;
    expect((await t.gql(UPDATE, { input: { name: '  Grace Hopper ' } }, { token })).body.data.updateProfile.name).toBe('Grace Hopper');
    expect((await t.gql(UPDATE, { input: { name: '' } }, { token })).body.data.updateProfile.name).toBeNull();
    const tooLong = await t.gql(UPDATE, { input: { name: 'x'.repeat(101) } }, { token });
    expect(tooLong.body.errors?.[0]?.extensions.code).toBe('BAD_USER_INPUT');
  });

  it('refuses updateProfile anonymously with UNAUTHENTICATED', async () => {
    const r = await t.gql(`mutation { updateProfile(input: { name: "x" }) { name } }`);
    expect(r.body.errors?.[0]?.extensions.code).toBe('UNAUTHENTICATED');
  });
});
