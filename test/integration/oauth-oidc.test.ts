import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/platform/crypto.ts';
import { relaxedRateLimits, startTestApp, type TestApp } from '../helpers/app.ts';
import { newCodeVerifier } from '../helpers/browser.ts';
import { createBrowser, followCallback, freePort, startOidcProvider, type TestOidcProvider } from '../helpers/oidc-provider.ts';

// Sign-in end to end against real OpenID providers (oidc-provider) on loopback: startOAuth, the
// provider's own login and consent pages, our callback, completeOAuth, then `me`.

const START = `mutation($input: StartOAuthInput!) { startOAuth(input: $input) { authorizationUrl } }`;
const COMPLETE = `mutation($input: CompleteOAuthInput!) {
  completeOAuth(input: $input) { token user { id email emailVerified name hasPassword } session { id method current } }
}`;
const ME = `{ me { id email emailVerified name } }`;

let t: TestApp;
let corp: TestOidcProvider;
let acme: TestOidcProvider;
let callback: string;
const frontend = 'http://app.test:3000';

beforeAll(async () => {
  const port = await freePort();
  callback = `http://127.0.0.1:${port}/oauth/callback`;
  corp = await startOidcProvider({ redirectUri: callback });
  acme = await startOidcProvider({ redirectUri: callback });
  t = await startTestApp({
    port,
    env: {
      PUBLIC_URL: `http://127.0.0.1:${port}`,
      FRONTEND_URL: frontend,
      OAUTH_PROVIDERS: 'corp,acme',
      OAUTH_CORP_NAME: 'Corp SSO',
      ...corp.env('corp'),
      ...acme.env('acme'),
      RATE_LIMITS: `${relaxedRateLimits};startOAuth=10000/15m:IP;completeOAuth=10000/15m:IP`,
    },
  });
  t.rememberSecret(corp.clientSecret);
  t.rememberSecret(acme.clientSecret);
});
afterAll(async () => {
  await t?.close();
  await corp?.close();
  await acme?.close();
});

/** start -> provider login and consent -> our callback; returns where the callback redirects, and the frontend's verifier. */
async function signInWith(provider: 'corp' | 'acme', login: string, redirectTo = `${frontend}/signed-in?tab=2`) {
  const { codeVerifier, codeChallenge } = await newCodeVerifier();
  t.rememberSecret(codeVerifier);
  const started = await t.gql(START, { input: { provider, redirectTo, codeChallenge } });
  expect(started.body.errors).toBeUndefined();
  const authorizationUrl: string = started.body.data.startOAuth.authorizationUrl;
  const back = await createBrowser().signIn(authorizationUrl, { login, stopAt: callback });
  for (const key of ['code', 'state']) if (back.searchParams.get(key)) t.rememberSecret(back.searchParams.get(key)!);
  const answer = await followCallback(back);
  const code = answer.location.searchParams.get('oauth_code');
  if (code) t.rememberSecret(code);
  return { authorizationUrl: new URL(authorizationUrl), answer, code, codeVerifier, error: answer.location.searchParams.get('oauth_error') };
}

/** completeOAuth as the browser that started the sign-in: its oauth_code and its verifier. */
async function complete({ code, codeVerifier }: { code: string | null; codeVerifier: string }) {
  const r = await t.gql(COMPLETE, { input: { code, codeVerifier } });
  expect(r.body.errors).toBeUndefined();
  return r.body.data.completeOAuth;
}

const count = async (sql: string, params: unknown[] = []) => (await t.db.query<{ n: number }>(`SELECT count(*)::int AS n ${sql}`, params))[0]!.n;

describe('OpenID Connect sign-in', () => {
  it('lists the configured providers', async () => {
    const r = await t.gql(`{ oauthProviders { id name } }`);
    expect(r.body.data.oauthProviders).toEqual([
      { id: 'corp', name: 'Corp SSO' },
      { id: 'acme', name: 'acme' },
    ]);
  });

  it('start -> provider login and consent -> callback -> oauth_code -> completeOAuth -> me', async () => {
    corp.accounts.set('ada-1', { email: 'Ada@Example.com', email_verified: true, name: 'Ada Lovelace' });
    const signed = await signInWith('corp', 'ada-1');
    const { authorizationUrl, answer, code } = signed;

    // The authorization request: code flow with PKCE S256, state, nonce and our redirect URI.
    expect(authorizationUrl.origin).toBe(corp.issuer);
    const params = authorizationUrl.searchParams;
    expect(params.get('response_type')).toBe('code');
    expect(params.get('redirect_uri')).toBe(callback);
    expect(params.get('code_challenge_method')).toBe('S256');
    expect(params.get('scope')).toBe('openid email profile');
    for (const key of ['state', 'nonce', 'code_challenge']) expect(params.get(key)).toMatch(/^[\w-]{43}$/);

    // The callback answers 302 to redirectTo, its own parameters kept, with a one-time code.
    expect(answer.status).toBe(302);
    expect(answer.headers.get('referrer-policy')).toBe('no-referrer');
    expect(`${answer.location.origin}${answer.location.pathname}`).toBe(`${frontend}/signed-in`);
    expect(answer.location.searchParams.get('tab')).toBe('2');
    expect(code).toMatch(/^[\w-]{43}$/);

    const payload = await complete(signed);
    expect(payload.user).toMatchObject({ email: 'ada@example.com', emailVerified: true, name: 'Ada Lovelace', hasPassword: false });
    expect(payload.session).toMatchObject({ method: 'OAUTH', current: true });
    const me = await t.gql(ME, {}, { token: payload.token });
    expect(me.body.data.me).toMatchObject({ id: payload.user.id, email: 'ada@example.com' });

    // Stored: the identity, the attempt used, and only hashes of state and code.
    const [identity] = await t.db.query('SELECT provider, subject, email, "userId" FROM "OAuthAccount" WHERE "userId" = $1', [payload.user.id]);
    expect(identity).toEqual({ provider: 'corp', subject: 'ada-1', email: 'ada@example.com', userId: payload.user.id });
    const attempts = await t.db.query('SELECT "stateHash", "consumedAt" FROM "OAuthAttempt" WHERE provider = $1', ['corp']);
    expect(attempts.every((a) => a.consumedAt !== null && a.stateHash !== params.get('state'))).toBe(true);
    expect(await count('FROM "OneTimeToken" WHERE "tokenHash" = $1', [code])).toBe(0);
    expect(await count('FROM "OneTimeToken" WHERE purpose = $1 AND "tokenHash" = $2 AND "consumedAt" IS NOT NULL', ['OAUTH_CODE', hashToken(code!)])).toBe(1);
    const types = (await t.db.query('SELECT type FROM "AuditEvent" WHERE "userId" = $1 ORDER BY "createdAt", type', [payload.user.id])).map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['user.registered', 'oauth.linked', 'login.succeeded']));
  });
});

describe('matching identities to accounts', () => {
  it('signs the same identity in as the same user every time', async () => {
    corp.accounts.set('grace-1', { email: 'grace@example.com', email_verified: true });
    const first = await complete(await signInWith('corp', 'grace-1'));
    const second = await complete(await signInWith('corp', 'grace-1'));
    expect(second.user.id).toBe(first.user.id);
    expect(second.token).not.toBe(first.token);
    expect(await count('FROM "OAuthAccount" WHERE "userId" = $1', [first.user.id])).toBe(1);
    expect(await count('FROM "User" WHERE email = $1', ['grace@example.com'])).toBe(1);
  });

  it('links a second provider to the account when it says the same email is verified', async () => {
    corp.accounts.set('linus-corp', { email: 'linus@example.com', email_verified: true });
    acme.accounts.set('linus-acme', { email: 'LINUS@example.com', email_verified: true });
    const viaCorp = await complete(await signInWith('corp', 'linus-corp'));
    const viaAcme = await complete(await signInWith('acme', 'linus-acme'));
    expect(viaAcme.user.id).toBe(viaCorp.user.id);
    const identities = await t.db.query('SELECT provider, subject FROM "OAuthAccount" WHERE "userId" = $1 ORDER BY provider', [viaCorp.user.id]);
    expect(identities).toEqual([
      { provider: 'acme', subject: 'linus-acme' },
      { provider: 'corp', subject: 'linus-corp' },
    ]);
  });

  it('links a provider to a verified account registered with a password when the email is verified there', async () => {
    const { userId } = await t.register('hedy@example.com');
    await t.db.query(`UPDATE "User" SET "emailVerified" = true WHERE id = $1`, [userId]);
    corp.accounts.set('hedy-1', { email: 'hedy@example.com', email_verified: true });
    const payload = await complete(await signInWith('corp', 'hedy-1'));
    expect(payload.user).toMatchObject({ id: userId, hasPassword: true });
  });

  it('gives an unverified account to the provider-verified owner of its address: its password and sessions go', async () => {
    const squatter = await t.register('preregistered@example.com');
    corp.accounts.set('prereg-1', { email: 'preregistered@example.com', email_verified: true });
    const payload = await complete(await signInWith('corp', 'prereg-1'));
    expect(payload.user).toMatchObject({ id: squatter.userId, hasPassword: false, emailVerified: true });
    expect((await t.gql('{ me { id } }', {}, { token: squatter.token })).status).toBe(401);
  });

  it('does not link a second provider whose email is not verified', async () => {
    corp.accounts.set('alan-corp', { email: 'alan@example.com', email_verified: true });
    acme.accounts.set('alan-acme', { email: 'alan@example.com', email_verified: false });
    const owner = await complete(await signInWith('corp', 'alan-corp'));
    const sessionsBefore = await count('FROM "Session" WHERE "userId" = $1', [owner.user.id]);
    const { answer, code, error } = await signInWith('acme', 'alan-acme', `${frontend}/signed-in?tab=2`);
    expect(code).toBeNull();
    expect(error).toBe('email_not_verified');
    expect(answer.location.searchParams.get('tab')).toBe('2');
    expect(await count('FROM "OAuthAccount" WHERE provider = $1 AND subject = $2', ['acme', 'alan-acme'])).toBe(0);
    expect(await count('FROM "Session" WHERE "userId" = $1', [owner.user.id])).toBe(sessionsBefore);
  });

  it('creates a new account with the email unverified when the provider does not say it is verified', async () => {
    acme.accounts.set('barbara-1', { email: 'barbara@example.com' });
    const payload = await complete(await signInWith('acme', 'barbara-1'));
    expect(payload.user).toMatchObject({ email: 'barbara@example.com', emailVerified: false });
  });

  it('refuses a provider that gives no email, creating nothing', async () => {
    acme.accounts.set('anon-1', {});
    const users = await count('FROM "User"');
    const { error } = await signInWith('acme', 'anon-1');
    expect(error).toBe('email_missing');
    expect(await count('FROM "User"')).toBe(users);
  });

  it('does not open a session for a locked account', async () => {
    corp.accounts.set('lock-1', { email: 'locked@example.com', email_verified: true });
    const first = await complete(await signInWith('corp', 'lock-1'));
    await t.db.query(`UPDATE "User" SET "lockedUntil" = $2 WHERE id = $1`, [first.user.id, new Date(t.clock.now().getTime() + 3_600_000)]);
    const { code, codeVerifier } = await signInWith('corp', 'lock-1');
    const r = await t.gql(COMPLETE, { input: { code, codeVerifier } });
    expect(r.body.errors?.[0]?.extensions).toMatchObject({ code: 'LOCKED' });
    expect(await count('FROM "Session" WHERE "userId" = $1', [first.user.id])).toBe(1);
  });
});

describe('failures at the provider', () => {
  it('redirects with oauth_error=access_denied when the user declines, and counts it', async () => {
    corp.accounts.set('decliner', { email: 'decliner@example.com', email_verified: true });
    const started = await t.gql(START, { input: { provider: 'corp', redirectTo: `${frontend}/cb`, codeChallenge: (await newCodeVerifier()).codeChallenge } });
    const back = await createBrowser().signIn(started.body.data.startOAuth.authorizationUrl, { login: 'decliner', stopAt: callback, abort: true });
    t.rememberSecret(back.searchParams.get('state')!);
    const { status, location } = await followCallback(back);
    expect(status).toBe(302);
    expect(location.href).toBe(`${frontend}/cb?oauth_error=access_denied`);
    expect(await count('FROM "User" WHERE email = $1', ['decliner@example.com'])).toBe(0);
    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    expect(metrics).toMatch(/portcullis_oauth_callbacks_total\{provider="corp",result="access_denied"\} 1/);
    expect(metrics).toMatch(/portcullis_oauth_callbacks_total\{provider="corp",result="success"\} \d+/);
    // Logged with the request id, and without the provider's own description.
    const line = t.logs.find((l) => l.includes('"oauthError":"access_denied"'));
    expect(line).toMatch(/"requestId":"[\w-]+"/);
    expect(line).not.toMatch(/aborted/i);
  });

  it('only GET is served at the callback', async () => {
    const r = await fetch(`${t.url}/oauth/callback?state=x&code=y`, { method: 'POST', redirect: 'manual' });
    expect(r.status).toBe(405);
  });

  it('refuses an unknown provider with BAD_USER_INPUT', async () => {
    const r = await t.gql(START, { input: { provider: 'nope', redirectTo: `${frontend}/cb`, codeChallenge: (await newCodeVerifier()).codeChallenge } });
    expect(r.body.errors?.[0]?.extensions.code).toBe('BAD_USER_INPUT');
  });
});

describe('rate limits on startOAuth and completeOAuth', () => {
  it('each: 30 per 15 minutes per IP by default, then RATE_LIMITED', async () => {
    const app = await startTestApp();
    try {
      const { codeVerifier, codeChallenge } = await newCodeVerifier();
      const guesses = [];
      for (let i = 0; i < 31; i++) guesses.push(await app.gql(COMPLETE, { input: { code: `guess-${i}-${'x'.repeat(30)}`, codeVerifier } }));
      expect(guesses.slice(0, 30).every((r) => r.body.errors?.[0]?.extensions.code === 'TOKEN_INVALID')).toBe(true);
      expect(guesses[30]!.body.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED' });
      const starts = [];
      for (let i = 0; i < 31; i++) starts.push(await app.gql(START, { input: { provider: 'none', redirectTo: 'http://localhost:4000/', codeChallenge } }));
      expect(starts.slice(0, 30).every((r) => r.body.errors?.[0]?.extensions.code === 'BAD_USER_INPUT')).toBe(true);
      expect(starts[30]!.body.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED' });
    } finally {
      await app.close();
    }
  });
});
