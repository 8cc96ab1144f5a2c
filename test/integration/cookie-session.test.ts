import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';

// SESSION_COOKIE=true (API.md "Credentials"): the session also travels in an HttpOnly cookie, and a
// cookie-authenticated request other than GET must carry the CSRF header (checklist item 10).

const LOGIN = `mutation($input: LoginInput!) { login(input: $input) { token session { id expiresAt } } }`;
const PASSWORD = 'correct horse battery';
const CSRF = { 'x-portcullis-csrf': '1' };

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ env: { SESSION_COOKIE: 'true' } });
});
afterAll(() => t.close());

// Few accounts, many sign-ins: registrations per IP are rate-limited.
const registered = new Set<string>();

/** Signs in with a password (registering the account the first time): returns the login's cookie and session. */
async function signIn(email: string) {
  if (!registered.has(email)) await t.register(email, PASSWORD);
  registered.add(email);
  const r = await t.gql(LOGIN, { input: { email, password: PASSWORD } });
  const setCookies = r.headers.getSetCookie();
  expect(setCookies).toHaveLength(1);
  const setCookie = setCookies[0]!;
  const value = /^portcullis_session=([^;]*)/.exec(setCookie)?.[1];
  const { token, session } = r.body.data.login;
  return { setCookie, cookie: `portcullis_session=${value}`, value, token, session };
}

const rawPost = (body: string, headers: Record<string, string>) => fetch(`${t.url}/graphql`, { method: 'POST', headers, body });

const getMe = (cookie: string) =>
  fetch(`${t.url}/graphql?query=${encodeURIComponent('{ me { id email } }')}`, { headers: { cookie, accept: 'application/json' } });

const nameOf = async (email: string) => (await t.db.query<{ name: string | null }>('SELECT name FROM "User" WHERE email = $1', [email]))[0]!.name;

const sessionRow = async (id: string) =>
  (await t.db.query<{ revokedAt: Date | null; revokeReason: string | null }>('SELECT "revokedAt", "revokeReason" FROM "Session" WHERE id = $1', [id]))[0]!;

describe('login with SESSION_COOKIE=true', () => {
  it('sets portcullis_session as an HttpOnly; Secure; SameSite=Lax cookie that expires with the session', async () => {
    const { setCookie, value, token, session } = await signIn('cookie@example.com');
    expect(value).toBe(token);
    const attributes = setCookie.split(';').map((a) => a.trim().toLowerCase());
    expect(attributes).toEqual(expect.arrayContaining(['httponly', 'secure', 'samesite=lax', 'path=/']));
    const expires = /;\s*Expires=([^;]+)/i.exec(setCookie)?.[1];
    expect(expires).toBeDefined();
    expect(new Date(expires!).toISOString()).toBe(new Date(session.expiresAt).toISOString());
    expect(setCookie).not.toMatch(/Max-Age=0/i);
  });

  it('authenticates a GET query with only the cookie', async () => {
    const { cookie } = await signIn('cookie@example.com');
    const response = await getMe(cookie);
    expect(response.status).toBe(200);
    expect(((await response.json()) as any).data.me.email).toBe('cookie@example.com');
  });

  it('authenticates a POST with the cookie and the CSRF header', async () => {
    const { cookie } = await signIn('cookie@example.com');
    const r = await t.gql(`{ me { email } }`, {}, { headers: { cookie, ...CSRF } });
    expect(r.body.data.me.email).toBe('cookie@example.com');
    const UPDATE = `mutation { updateProfile(input: { name: "Changed" }) { name } }`;
    expect((await t.gql(UPDATE, {}, { headers: { cookie, ...CSRF } })).body.data.updateProfile.name).toBe('Changed');
    expect(await nameOf('cookie@example.com')).toBe('Changed');
  });
});

describe('CSRF (checklist 10)', () => {
  // Every attempt targets the same account, whose name must stay unset throughout.
  const VICTIM = 'victim@example.com';
  const UPDATE = `mutation { updateProfile(input: { name: "Mallory" }) { name } }`;

  it('refuses a cookie-authenticated JSON mutation without the CSRF header with FORBIDDEN; nothing changes', async () => {
    const { cookie, session } = await signIn(VICTIM);
    const r = await t.gql(UPDATE, {}, { headers: { cookie } });
    expect(r.status).toBe(403);
    expect(r.body.data ?? null).toBeNull();
    expect(r.body.errors?.[0]?.extensions.code).toBe('FORBIDDEN');
    expect(await nameOf(VICTIM)).toBeNull();
    const logout = await t.gql(`mutation { logout }`, {}, { headers: { cookie } });
    expect(logout.body.errors?.[0]?.extensions.code).toBe('FORBIDDEN');
    expect((await sessionRow(session.id)).revokedAt).toBeNull();
  });

  // The two encodings an HTML form can send cross-site without a preflight: only JSON bodies run
  // (checklist 49), so they are refused with 415 before the cookie is even looked at.
  it.each([
    ['application/x-www-form-urlencoded', () => new URLSearchParams({ query: UPDATE }).toString()],
    [
      'multipart/form-data; boundary=x',
      () => `--x\r\nContent-Disposition: form-data; name="operations"\r\n\r\n${JSON.stringify({ query: UPDATE })}\r\n--x--\r\n`,
    ],
  ])('refuses it sent as %s with 415; nothing changes', async (contentType, body) => {
    const { cookie } = await signIn(VICTIM);
    const response = await rawPost(body(), { cookie, 'content-type': contentType });
    const result = (await response.json()) as any;
    expect(response.status).toBe(415);
    expect(result.data ?? null).toBeNull();
    expect(result.errors?.[0]?.extensions.code).toBe('BAD_USER_INPUT');
    expect(await nameOf(VICTIM)).toBeNull();
  });

  it('refuses it sent as text/plain; nothing changes', async () => {
    const { cookie } = await signIn(VICTIM);
    const response = await rawPost(JSON.stringify({ query: UPDATE }), { cookie, 'content-type': 'text/plain' });
    expect(response.status).toBe(415);
    expect(await response.text()).not.toContain('Mallory');
    expect(await nameOf(VICTIM)).toBeNull();
  });

  it('refuses a mutation through GET even with the cookie', async () => {
    const { cookie } = await signIn(VICTIM);
    const response = await fetch(`${t.url}/graphql?query=${encodeURIComponent(UPDATE)}`, { headers: { cookie, accept: 'application/json' } });
    expect(response.status).toBe(405);
    expect(await nameOf(VICTIM)).toBeNull();
  });
});

describe('logout and stale cookies', () => {
  it('logout clears the cookie (Max-Age=0) and revokes the session row', async () => {
    const { cookie, session } = await signIn('cookie-logout@example.com');
    const r = await t.gql(`mutation { logout }`, {}, { headers: { cookie, ...CSRF } });
    expect(r.body.data.logout).toBe(true);
    const cleared = r.headers.getSetCookie();
    expect(cleared).toHaveLength(1);
    expect(cleared[0]).toMatch(/^portcullis_session=;/);
    expect(cleared[0]).toMatch(/;\s*Max-Age=0/i);
    expect(await sessionRow(session.id)).toMatchObject({ revokedAt: expect.any(Date), revokeReason: 'LOGOUT' });
  });

  it('a cookie of a revoked session makes the caller anonymous and the response clears it', async () => {
    const { cookie, token } = await signIn('cookie-logout@example.com');
    expect((await t.gql(`mutation { logout }`, {}, { token })).body.data.logout).toBe(true);

    const viaGet = await getMe(cookie);
    expect(((await viaGet.json()) as any).data.me).toBeNull();
    expect(viaGet.headers.getSetCookie().join('\n')).toMatch(/^portcullis_session=;.*Max-Age=0/i);

    const viaPost = await t.gql(`{ me { id } }`, {}, { headers: { cookie, ...CSRF } });
    expect(viaPost.status).toBe(200);
    expect(viaPost.body.errors).toBeUndefined();
    expect(viaPost.body.data.me).toBeNull();
    expect(viaPost.headers.getSetCookie().join('\n')).toMatch(/^portcullis_session=;.*Max-Age=0/i);
  });

  it.each([
    ['unknown', 'portcullis_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
    ['malformed', 'portcullis_session=%E0%A4%A'],
    ['oversized', `portcullis_session=${'a'.repeat(5000)}`],
  ])('an %s cookie makes the caller anonymous and is cleared', async (_what, cookie) => {
    const response = await getMe(`theme=dark; ${cookie}`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as any;
    expect(body.errors).toBeUndefined();
    expect(body.data.me).toBeNull();
    expect(response.headers.getSetCookie().join('\n')).toMatch(/^portcullis_session=;.*Max-Age=0/i);
  });

  it('a request without any cookie gets no Set-Cookie', async () => {
    const r = await t.gql(`{ me { id } }`);
    expect(r.body.data.me).toBeNull();
    expect(r.headers.getSetCookie()).toEqual([]);
  });
});

describe('with SESSION_COOKIE unset', () => {
  let plain: TestApp;
  beforeAll(async () => {
    plain = await startTestApp({ db: t.db });
  });
  afterAll(() => plain.close());

  it('sets no cookie and ignores one entirely, CSRF header or not', async () => {
    const { cookie } = await signIn('cookie-off@example.com');
    const login = await plain.gql(LOGIN, { input: { email: 'cookie-off@example.com', password: PASSWORD } });
    expect(login.body.data.login.token).toBeTruthy();
    expect(login.headers.getSetCookie()).toEqual([]);

    const viaGet = await fetch(`${plain.url}/graphql?query=${encodeURIComponent('{ me { id } }')}`, { headers: { cookie, accept: 'application/json' } });
    expect(((await viaGet.json()) as any).data.me).toBeNull();
    expect(viaGet.headers.getSetCookie()).toEqual([]);

    // Without cookie mode there is no cookie credential, so no CSRF refusal either: just anonymous.
    const update = await plain.gql(`mutation { updateProfile(input: { name: "x" }) { name } }`, {}, { headers: { cookie } });
    expect(update.body.errors?.[0]?.extensions.code).toBe('UNAUTHENTICATED');
    expect(await nameOf('cookie-off@example.com')).toBeNull();
  });
});
