import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { SESSION_REVOKED } from '../helpers/realtime.ts';
import { subscribeSse } from '../helpers/sse.ts';

// Checklist item 49: only JSON POST bodies run. A cross-site HTML form can POST urlencoded,
// multipart or text/plain bodies without a CORS preflight; if those ran, a page could sign the
// visitor's browser into the attacker's account (login CSRF, worst in cookie mode) or register
// accounts in the visitor's name. They get 415 before anything is parsed, in every mode.

const ATTACKER = { email: 'attacker@example.com', password: 'attacker password 1' };
const LOGIN = `mutation { login(input: { email: "${ATTACKER.email}", password: "${ATTACKER.password}" }) { token } }`;
const register = (email: string) => `mutation { register(input: { email: "${email}", password: "planted password 1" }) { token } }`;

type Encoding = [name: string, contentType: string | undefined, body: (query: string) => string | Blob];
const REFUSED: Encoding[] = [
  ['a urlencoded form', 'application/x-www-form-urlencoded', (query) => new URLSearchParams({ query }).toString()],
  [
    'a multipart form',
    'multipart/form-data; boundary=x',
    (query) => `--x\r\nContent-Disposition: form-data; name="operations"\r\n\r\n${JSON.stringify({ query })}\r\n--x--\r\n`,
  ],
  ['a text/plain form', 'text/plain', (query) => JSON.stringify({ query })],
  ['text/plain with a charset', 'text/plain;charset=UTF-8', (query) => `{"query":${JSON.stringify(query)},"padding":"="}`],
  ['application/graphql', 'application/graphql', (query) => query],
  ['a look-alike JSON type', 'application/jsonx', (query) => JSON.stringify({ query })],
  // A Blob without a type: fetch then sends no Content-Type at all.
  ['no content type', undefined, (query) => new Blob([JSON.stringify({ query })])],
];
const ACCEPTED = ['application/json', 'application/json; charset=utf-8', 'Application/JSON;Charset=UTF-8', 'application/graphql-response+json'];

const post = (t: TestApp, contentType: string | undefined, body: string | Blob, path = '/graphql') =>
  fetch(`${t.url}${path}`, { method: 'POST', headers: contentType ? { 'content-type': contentType } : {}, body });

/** Rows a login or a registration would write. */
async function rowCounts(t: TestApp) {
  const rows = await t.db.query<Record<string, string>>(
    `SELECT (SELECT count(*) FROM "User") AS users, (SELECT count(*) FROM "Session") AS sessions, (SELECT count(*) FROM "AuditEvent") AS audit`,
  );
  return rows[0]!;
}

async function expectRefused(response: Response) {
  expect(response.status).toBe(415);
  expect(response.headers.getSetCookie()).toEqual([]);
  const body = (await response.json()) as { data?: unknown; errors: Array<{ message: string; extensions: unknown }> };
  expect(body.data).toBeUndefined();
  expect(body.errors).toEqual([
    { message: expect.stringContaining('application/json'), extensions: { code: 'BAD_USER_INPUT', requestId: expect.any(String), http: { status: 415 } } },
  ]);
}

describe.each([
  ['bearer mode', {}],
  ['cookie mode (SESSION_COOKIE=true)', { SESSION_COOKIE: 'true' }],
])('%s', (_mode, env: Record<string, string>) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ env });
    await t.register(ATTACKER.email, ATTACKER.password);
  });
  afterAll(() => t.close());

  it.each(REFUSED)("refuses the attacker's login sent as %s with 415: no session, no cookie, no audit row", async (_name, contentType, body) => {
    const before = await rowCounts(t);
    await expectRefused(await post(t, contentType, body(LOGIN)));
    expect(await rowCounts(t)).toEqual(before);
  });

  it.each(REFUSED)('refuses a registration sent as %s with 415: no account is created', async (name, contentType, body) => {
    const email = `planted-${name.replace(/\W+/g, '-')}@example.com`;
    const before = await rowCounts(t);
    await expectRefused(await post(t, contentType, body(register(email))));
    expect(await rowCounts(t)).toEqual(before);
    expect(await t.db.query('SELECT id FROM "User" WHERE email = $1', [email])).toEqual([]);
  });

  it('refuses a form on any spelling of the endpoint', async () => {
    const before = await rowCounts(t);
    for (const path of ['/graphql/', '/graphql?query=x', '/graphql/?a=1']) {
      await expectRefused(await post(t, 'application/x-www-form-urlencoded', new URLSearchParams({ query: LOGIN }).toString(), path));
    }
    expect(await rowCounts(t)).toEqual(before);
  });

  it.each(ACCEPTED)('runs a JSON body sent as %s', async (contentType) => {
    const before = await rowCounts(t);
    const login = await post(t, contentType, JSON.stringify({ query: LOGIN }));
    expect(login.status).toBe(200);
    const token = ((await login.json()) as { data: { login: { token: string } } }).data.login.token;
    t.rememberSecret(token);
    expect(token).toMatch(/^[\w-]{43}$/);
    expect(login.headers.getSetCookie()).toHaveLength(env.SESSION_COOKIE ? 1 : 0);
    expect(Number((await rowCounts(t)).sessions)).toBe(Number(before.sessions) + 1);

    const email = `json-${ACCEPTED.indexOf(contentType)}@example.com`;
    const registered = await post(t, contentType, JSON.stringify({ query: register(email) }));
    expect(registered.status).toBe(200);
    t.rememberSecret(((await registered.json()) as { data: { register: { token: string } } }).data.register.token);
    expect(await t.db.query('SELECT email FROM "User" WHERE email = $1', [email])).toEqual([{ email }]);
  });
});

describe('other transports on the same endpoint', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('GET queries still run', async () => {
    const { token } = await t.register('get@example.com');
    const response = await fetch(`${t.url}/graphql?query=${encodeURIComponent('{ me { email } }')}`, {
      headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ data: { me: { email: 'get@example.com' } } });
  });

  it('graphql-sse single-connection operations (JSON POSTs with the stream token) still run', async () => {
    const { token, sessionId } = await t.register('sse@example.com');
    const stream = subscribeSse(t.url, SESSION_REVOKED, { token, singleConnection: true });
    try {
      await new Promise((r) => setTimeout(r, 300));
      await t.gql(`mutation { logout }`, {}, { token });
      const [event] = await stream.waitForEvents(1, 5000);
      expect(event).toMatchObject({ sessionRevoked: { sessionId } });
    } finally {
      stream.dispose();
    }
  });
});
