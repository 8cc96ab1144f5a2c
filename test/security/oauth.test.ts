import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { relaxedRateLimits, startTestApp, type TestApp } from '../helpers/app.ts';
import { newCodeVerifier } from '../helpers/browser.ts';
import { MINUTE } from '../helpers/clock.ts';
import { createBrowser, followCallback, freePort, startOidcProvider, type TestOidcProvider } from '../helpers/oidc-provider.ts';
import { startTamperedIssuer, type TamperedIssuer } from '../helpers/tampered-issuer.ts';

// SECURITY-CHECKLIST.md items 31-36 (OAuth / OIDC; most of 34 is in oauth-pre-account-takeover.test.ts), each
// asserting the answer and the rows left behind. One frontend verifier serves every attempt (item 50 binds them).

const START = `mutation($input: StartOAuthInput!) { startOAuth(input: $input) { authorizationUrl } }`;
const COMPLETE = `mutation($input: CompleteOAuthInput!) { completeOAuth(input: $input) { token user { id email } session { method } } }`;
const FRONTEND = 'https://frontend.example/app';

let t: TestApp;
let corp: TestOidcProvider;
let forged: TamperedIssuer;
let callback: string;
let pkce: { codeVerifier: string; codeChallenge: string };

beforeAll(async () => {
  const port = await freePort();
  callback = `http://127.0.0.1:${port}/oauth/callback`;
  corp = await startOidcProvider({ redirectUri: callback });
  forged = await startTamperedIssuer();
  t = await startTestApp({
    port,
    env: {
      PUBLIC_URL: `http://127.0.0.1:${port}`,
      FRONTEND_URL: FRONTEND,
      ALLOWED_REDIRECTS: 'https://admin.example/portal/',
      OAUTH_PROVIDERS: 'corp,forged',
      ...corp.env('corp'),
      ...forged.env('forged'),
      RATE_LIMITS: `${relaxedRateLimits};startOAuth=10000/15m:IP;completeOAuth=10000/15m:IP`,
    },
  });
  t.rememberSecret(corp.clientSecret);
  t.rememberSecret(forged.clientSecret);
  pkce = await newCodeVerifier();
  t.rememberSecret(pkce.codeVerifier);
});
afterAll(async () => {
  await t?.close();
  await corp?.close();
  await forged?.close();
});

const count = async (table: string, where = 'TRUE', params: unknown[] = []) =>
  (await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${table}" WHERE ${where}`, params))[0]!.n;
const complete = (code: string | null) => t.gql(COMPLETE, { input: { code, codeVerifier: pkce.codeVerifier } });
const snapshot = async () => ({
  users: await count('User'),
  identities: await count('OAuthAccount'),
  sessions: await count('Session'),
  codes: await count('OneTimeToken', `purpose = 'OAUTH_CODE'`),
});

async function start(provider: string, redirectTo = `${FRONTEND}/callback`): Promise<URL> {
  const r = await t.gql(START, { input: { provider, redirectTo, codeChallenge: pkce.codeChallenge } });
  expect(r.body.errors).toBeUndefined();
  return new URL(r.body.data.startOAuth.authorizationUrl);
}

/** Through the provider's pages; returns the URL the provider sends the browser to (our callback), unfollowed. */
async function atProvider(authorizationUrl: URL, login: string): Promise<URL> {
  const back = await createBrowser().signIn(authorizationUrl.href, { login, stopAt: callback });
  for (const key of ['code', 'state']) if (back.searchParams.get(key)) t.rememberSecret(back.searchParams.get(key)!);
  return back;
}

/** Our callback's answer: the oauth_code or oauth_error it redirects with. */
async function callbackAnswer(url: URL | string) {
  const { status, location } = await followCallback(url);
  expect(status).toBe(302);
  const code = location.searchParams.get('oauth_code');
  if (code) t.rememberSecret(code);
  return { location, code, error: location.searchParams.get('oauth_error') };
}

/** At the tampered issuer the user consents at once: straight back to our callback. */
async function viaForged(): Promise<URL> {
  const response = await fetch(await start('forged'), { redirect: 'manual' });
  const back = new URL(response.headers.get('location')!);
  for (const key of ['code', 'state']) t.rememberSecret(back.searchParams.get(key)!);
  return back;
}

describe('31. A callback whose state is unknown, used or expired -> redirect with oauth_error; no user, identity or session created', () => {
  it('unknown or missing state: redirected to FRONTEND_URL with oauth_error=invalid_state, nothing written', async () => {
    const before = await snapshot();
    for (const query of ['?code=abc&state=not-a-state', '?code=abc', '', `?code=abc&state=${'x'.repeat(5000)}`]) {
      const { location, code, error } = await callbackAnswer(`${t.url}/oauth/callback${query}`);
      expect(`${location.origin}${location.pathname}`).toBe(FRONTEND);
      expect([code, error]).toEqual([null, 'invalid_state']);
    }
    expect(await snapshot()).toEqual(before);
    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    expect(metrics).toMatch(/portcullis_oauth_callbacks_total\{provider="unknown",result="invalid_state"\} [1-9]/);
  });

  it('used state: a second callback with it is refused and adds nothing', async () => {
    corp.accounts.set('used-1', { email: 'used@example.com', email_verified: true });
    const back = await atProvider(await start('corp'), 'used-1');
    expect((await callbackAnswer(back)).code).toBeTruthy();
    const before = await snapshot();
    const again = await callbackAnswer(back);
    expect([again.code, again.error]).toEqual([null, 'invalid_state']);
    expect(`${again.location.origin}${again.location.pathname}`).toBe(FRONTEND);
    expect(await snapshot()).toEqual(before);
  });

  it('expired state: after 10 minutes the callback is refused and no account is created; just before, it works', async () => {
    corp.accounts.set('late-1', { email: 'late@example.com', email_verified: true });
    const back = await atProvider(await start('corp'), 'late-1');
    const before = await snapshot();
    t.clock.advance(10 * MINUTE);
    const late = await callbackAnswer(back);
    expect([late.code, late.error]).toEqual([null, 'invalid_state']);
    expect(await snapshot()).toEqual(before);
    expect(await count('User', 'email = $1', ['late@example.com'])).toBe(0);

    const inTime = await atProvider(await start('corp'), 'late-1');
    t.clock.advance(10 * MINUTE - 1);
    expect((await callbackAnswer(inTime)).code).toBeTruthy();
  });
});

describe('32. The same code and state replayed -> rejected', () => {
  it('two concurrent callbacks with the same code and state: exactly one oauth_code', async () => {
    corp.accounts.set('replay-1', { email: 'replay@example.com', email_verified: true });
    const back = await atProvider(await start('corp'), 'replay-1');
    const answers = await Promise.all([callbackAnswer(back), callbackAnswer(back), callbackAnswer(back)]);
    expect(answers.filter((a) => a.code).length).toBe(1);
    expect(answers.filter((a) => a.error === 'invalid_state').length).toBe(2);
    const [user] = await t.db.query('SELECT id FROM "User" WHERE email = $1', ['replay@example.com']);
    expect(await count('OAuthAccount', '"userId" = $1', [user.id])).toBe(1);
    expect(await count('OneTimeToken', `"userId" = $1 AND purpose = 'OAUTH_CODE'`, [user.id])).toBe(1);
  });

  it("a provider code replayed under another attempt's state is refused by the PKCE check; nothing linked", async () => {
    corp.accounts.set('inject-1', { email: 'inject@example.com', email_verified: true });
    const victim = await atProvider(await start('corp'), 'inject-1');
    const other = await start('corp');
    const injected = new URL(victim);
    injected.searchParams.set('state', other.searchParams.get('state')!);
    t.rememberSecret(other.searchParams.get('state')!);
    const before = await snapshot();
    const answer = await callbackAnswer(injected);
    expect([answer.code, answer.error]).toEqual([null, 'exchange_failed']);
    expect(await snapshot()).toEqual(before);
  });
});

describe('33. Wrong nonce, wrong audience or issuer in the ID token -> rejected; nothing linked', () => {
  it('control: the untampered issuer signs in', async () => {
    forged.tamper = {};
    forged.account = { sub: 'control-1', email: 'control@example.com', email_verified: true };
    expect((await callbackAnswer(await viaForged())).code).toBeTruthy();
  });

  it('wrong nonce (the authorization request altered on its way to oidc-provider)', async () => {
    corp.accounts.set('nonce-1', { email: 'nonce@example.com', email_verified: true });
    const url = await start('corp');
    url.searchParams.set('nonce', 'attacker-chosen-nonce-value');
    const back = await atProvider(url, 'nonce-1');
    const before = await snapshot();
    const answer = await callbackAnswer(back);
    expect([answer.code, answer.error]).toEqual([null, 'exchange_failed']);
    expect(await snapshot()).toEqual(before);
    expect(await count('User', 'email = $1', ['nonce@example.com'])).toBe(0);
    expect(t.logs.find((l) => l.includes('"oauthError":"exchange_failed"') && l.includes('nonce'))).toMatch(/"requestId":"[\w-]+"/);
  });

  it.each([
    ['wrong audience', { aud: 'some-other-client' }, /aud/],
    ['wrong issuer', { iss: 'https://evil.example' }, /iss/],
    ['wrong nonce', { nonce: 'not-the-nonce' }, /nonce/],
    ['a signature by an unpublished key', { foreignKey: true }, /signature|key/i],
  ])('%s (tampered issuer)', async (_name, tamper, reason) => {
    forged.tamper = tamper;
    forged.account = { sub: 'victim-1', email: 'victim@example.com', email_verified: true };
    const before = await snapshot();
    const answer = await callbackAnswer(await viaForged());
    expect([answer.code, answer.error]).toEqual([null, 'exchange_failed']);
    expect(await snapshot()).toEqual(before);
    expect(await count('OAuthAccount', 'provider = $1 AND subject = $2', ['forged', 'victim-1'])).toBe(0);
    const lines = t.logs.filter((l) => l.includes('"provider":"forged"') && l.includes('"oauthError":"exchange_failed"'));
    expect(lines.at(-1)).toMatch(reason);
  });
});

describe('34. The identity is keyed by (provider, subject); the email_verified cases are in oauth-pre-account-takeover.test.ts', () => {
  it('the same subject at another provider is another identity', async () => {
    corp.accounts.set('same-sub', { email: 'corp-user@example.com', email_verified: true });
    const viaCorp = await callbackAnswer(await atProvider(await start('corp'), 'same-sub'));
    const corpUser = (await complete(viaCorp.code)).body.data.completeOAuth.user.id;
    forged.tamper = {};
    forged.account = { sub: 'same-sub', email: 'forged-user@example.com', email_verified: true };
    const viaForgedAnswer = await callbackAnswer(await viaForged());
    const forgedUser = (await complete(viaForgedAnswer.code)).body.data.completeOAuth.user.id;
    expect(forgedUser).not.toBe(corpUser);
  });
});

describe('35. redirectTo outside FRONTEND_URL/ALLOWED_REDIRECTS -> BAD_USER_INPUT; never an open redirect', () => {
  it.each([
    '//evil.example',
    '//frontend.example/app',
    'https://frontend.example.evil.com/app',
    'https://evil.example/app',
    'https://frontend.example@evil.example/app',
    'https://frontend.example:8443/app',
    'http://frontend.example/app',
    'https://frontend.example/other',
    'https://frontend.example/application',
    'https://frontend.example/app/../admin',
    'https://frontend.example/',
    '/app/callback',
    'javascript:alert(1)//frontend.example/app',
    'data:text/html,frontend.example/app',
    'https:\\\\evil.example\\app',
    'https://admin.example/portalx',
    `https://frontend.example/app/${'a'.repeat(2100)}`,
    '',
  ])('refuses %s and stores no attempt', async (redirectTo) => {
    const before = await count('OAuthAttempt');
    const r = await t.gql(START, { input: { provider: 'corp', redirectTo, codeChallenge: pkce.codeChallenge } });
    expect(r.body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', http: { status: 400 } });
    expect(r.body.data).toBeNull();
    expect(await count('OAuthAttempt')).toBe(before);
  });

  it.each([
    'https://frontend.example/app',
    'https://frontend.example/app/',
    'https://frontend.example/app/signed-in?x=1#top',
    'https://FRONTEND.example:443/app/x',
    'https://admin.example/portal/',
    'https://admin.example/portal/users?tab=2',
  ])('accepts %s', async (redirectTo) => {
    const r = await t.gql(START, { input: { provider: 'corp', redirectTo, codeChallenge: pkce.codeChallenge } });
    expect(r.body.errors).toBeUndefined();
  });

  it('the callback sends the browser to the stored target only, with its parameters kept', async () => {
    corp.accounts.set('target-1', { email: 'target@example.com', email_verified: true });
    const back = await atProvider(await start('corp', 'https://admin.example/portal/users?tab=2&oauth_code=planted'), 'target-1');
    const { location, code } = await callbackAnswer(back);
    expect(`${location.origin}${location.pathname}`).toBe('https://admin.example/portal/users');
    expect(location.searchParams.get('tab')).toBe('2');
    expect(location.searchParams.getAll('oauth_code')).toEqual([code]);
    expect(code).not.toBe('planted');
  });
});

describe('36. An oauth_code used twice or after 60 seconds -> TOKEN_INVALID / TOKEN_EXPIRED', () => {
  async function freshCode(login: string): Promise<string> {
    corp.accounts.set(login, { email: `${login}@example.com`, email_verified: true });
    return (await callbackAnswer(await atProvider(await start('corp'), login))).code!;
  }

  it('used twice: one session, then TOKEN_INVALID', async () => {
    const code = await freshCode('twice');
    const first = await complete(code);
    expect(first.body.data.completeOAuth.session.method).toBe('OAUTH');
    const second = await complete(code);
    expect(second.body.errors?.[0]?.extensions).toMatchObject({ code: 'TOKEN_INVALID', http: { status: 400 } });
    expect(await count('Session', '"userId" = $1', [first.body.data.completeOAuth.user.id])).toBe(1);
  });

  it('used twice concurrently: exactly one session', async () => {
    const code = await freshCode('racer');
    const results = await Promise.all([1, 2, 3].map(() => complete(code)));
    expect(results.filter((r) => r.body.data?.completeOAuth).length).toBe(1);
    expect(results.filter((r) => r.body.errors?.[0]?.extensions.code === 'TOKEN_INVALID').length).toBe(2);
    const [user] = await t.db.query('SELECT id FROM "User" WHERE email = $1', ['racer@example.com']);
    expect(await count('Session', '"userId" = $1', [user.id])).toBe(1);
  });

  it('after 60 seconds: TOKEN_EXPIRED and no session; just before, it works', async () => {
    const late = await freshCode('slow');
    t.clock.advance(60_000);
    const r = await complete(late);
    expect(r.body.errors?.[0]?.extensions).toMatchObject({ code: 'TOKEN_EXPIRED', http: { status: 498 } });
    const [user] = await t.db.query('SELECT id FROM "User" WHERE email = $1', ['slow@example.com']);
    expect(await count('Session', '"userId" = $1', [user.id])).toBe(0);

    const inTime = await freshCode('slow');
    t.clock.advance(59_999);
    expect((await complete(inTime)).body.data.completeOAuth.user.id).toBe(user.id);
  });

  it('an unknown code: TOKEN_INVALID', async () => {
    const r = await complete('x'.repeat(43));
    expect(r.body.errors?.[0]?.extensions.code).toBe('TOKEN_INVALID');
  });
});
