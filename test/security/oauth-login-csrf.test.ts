import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/platform/crypto.ts';
import { relaxedRateLimits, startTestApp, type TestApp } from '../helpers/app.ts';
import { createBrowser, newCodeVerifier, VERIFIER_KEY, type Browser } from '../helpers/browser.ts';
import { freePort, startOidcProvider, type TestOidcProvider } from '../helpers/oidc-provider.ts';

// SECURITY-CHECKLIST.md item 50: an oauth_code (or the callback URL that yields it) opened in a
// browser other than the one that called startOAuth -> completeOAuth there has no matching
// codeVerifier and gets TOKEN_INVALID; nobody is signed in, and the code cannot be used again.
// Each browser is a cookie jar with its own sessionStorage; the app runs in cookie mode, so "signed
// in" is what the browser's own `me` says.

const FRONTEND = 'https://app.example/portal';
const ME = `{ me { id email } }`;
const START = `mutation($input: StartOAuthInput!) { startOAuth(input: $input) { authorizationUrl } }`;

let t: TestApp;
let corp: TestOidcProvider;
let callback: string;

beforeAll(async () => {
  const port = await freePort();
  callback = `http://127.0.0.1:${port}/oauth/callback`;
  corp = await startOidcProvider({ redirectUri: callback });
  t = await startTestApp({
    port,
    env: {
      PUBLIC_URL: `http://127.0.0.1:${port}`,
      FRONTEND_URL: FRONTEND,
      SESSION_COOKIE: 'true',
      OAUTH_PROVIDERS: 'corp',
      ...corp.env('corp'),
      RATE_LIMITS: `${relaxedRateLimits};startOAuth=10000/15m:IP;completeOAuth=10000/15m:IP`,
    },
  });
  t.rememberSecret(corp.clientSecret);
});
afterAll(async () => {
  await t?.close();
  await corp?.close();
});

const count = async (sql: string, params: unknown[] = []) => (await t.db.query<{ n: number }>(`SELECT count(*)::int AS n ${sql}`, params))[0]!.n;
const errorCode = (r: { body: { errors?: any[] } }) => r.body.errors?.[0]?.extensions.code;
const whoIs = async (browser: Browser) => (await browser.gql(t, ME)).body.data?.me ?? null;

/** Sign-in button, then the provider's pages: returns our callback URL, not yet opened. */
async function toCallback(browser: Browser, login: string): Promise<URL> {
  corp.accounts.set(login, { email: `${login}@example.com`, email_verified: true });
  const { authorizationUrl } = await browser.startOAuth(t, 'corp', `${FRONTEND}/oauth?step=2`);
  const back = await browser.signIn(authorizationUrl, { login, stopAt: callback });
  for (const key of ['code', 'state']) t.rememberSecret(back.searchParams.get(key)!);
  return back;
}

/** Opens a callback URL: the browser lands on the frontend page with ?oauth_code=… (or ?oauth_error=…). */
async function land(browser: Browser, callbackUrl: URL): Promise<URL> {
  const landed = await browser.open(callbackUrl, FRONTEND);
  const code = landed.searchParams.get('oauth_code');
  if (code) t.rememberSecret(code);
  return landed;
}

/** The sessions of `login`'s account, and whether its oauth_code row is spent. */
async function aftermath(login: string, landed: URL) {
  const [user] = await t.db.query('SELECT id FROM "User" WHERE email = $1', [`${login}@example.com`]);
  const [code] = await t.db.query('SELECT "consumedAt" FROM "OneTimeToken" WHERE "tokenHash" = $1', [hashToken(landed.searchParams.get('oauth_code')!)]);
  return { sessions: await count('FROM "Session" WHERE "userId" = $1', [user.id]), codeSpent: code?.consumedAt != null };
}

describe('50. An oauth_code or callback URL opened in another browser signs nobody in and is burned', () => {
  it('control: the browser that started the sign-in completes it with its verifier and is signed in', async () => {
    const ada = createBrowser();
    const callbackUrl = await toCallback(ada, 'ada');
    const landed = await land(ada, callbackUrl);
    const verifier = ada.sessionStorage(new URL(FRONTEND).origin).get(VERIFIER_KEY)!;
    // The attempt and the code carry the browser's challenge (S256 of its verifier), never the verifier.
    const stateHash = hashToken(callbackUrl.searchParams.get('state')!);
    const [attempt] = await t.db.query('SELECT "bindingHash", "codeVerifier" FROM "OAuthAttempt" WHERE "stateHash" = $1', [stateHash]);
    const [code] = await t.db.query('SELECT "bindingHash" FROM "OneTimeToken" WHERE "tokenHash" = $1', [hashToken(landed.searchParams.get('oauth_code')!)]);
    expect(attempt.bindingHash).toBe(hashToken(verifier));
    expect(code.bindingHash).toBe(hashToken(verifier));
    expect(attempt.codeVerifier).not.toBe(verifier);

    const r = await ada.completeOAuth(t, landed);
    expect(r.body.data.completeOAuth.user.email).toBe('ada@example.com');
    expect(ada.cookieNames()).toContain('portcullis_session');
    expect(await whoIs(ada)).toEqual({ id: r.body.data.completeOAuth.user.id, email: 'ada@example.com' });
  });

  it('an oauth_code handed to another browser: TOKEN_INVALID there, nobody signed in, and the code is dead for its own browser too', async () => {
    // Mallory stops at her frontend page with a fresh oauth_code and sends that URL to Victor.
    const mallory = createBrowser();
    const landed = await land(mallory, await toCallback(mallory, 'mallory1'));
    const victor = createBrowser();
    await victor.startOAuth(t, 'corp', `${FRONTEND}/oauth`); // Victor's frontend holds a verifier of its own

    const there = await victor.completeOAuth(t, landed);
    expect(errorCode(there)).toBe('TOKEN_INVALID');
    expect(there.body.data).toBeNull();
    expect(victor.cookieNames()).not.toContain('portcullis_session');
    expect(await whoIs(victor)).toBeNull();
    // The failed call spent the code all the same: it committed before the sign-in failed.
    expect(await aftermath('mallory1', landed)).toEqual({ sessions: 0, codeSpent: true });
    expect(t.logs.find((l) => l.includes("another browser's verifier"))).toMatch(/"requestId":"[\w-]+"/);

    const own = await mallory.completeOAuth(t, landed);
    expect(errorCode(own)).toBe('TOKEN_INVALID');
    expect(await whoIs(mallory)).toBeNull();
    expect(await aftermath('mallory1', landed)).toEqual({ sessions: 0, codeSpent: true });
  });

  it('a callback URL handed to another browser: the code it yields there is refused and burned; the attempt is gone for the first', async () => {
    // Mallory passes the provider's pages and stops before her own callback; Victor opens it.
    const mallory = createBrowser();
    const callbackUrl = await toCallback(mallory, 'mallory2');
    const victor = createBrowser();
    await victor.startOAuth(t, 'corp', `${FRONTEND}/oauth`);
    const landed = await land(victor, callbackUrl);
    expect(landed.searchParams.get('oauth_code')).toMatch(/^[\w-]{43}$/);
    expect(landed.searchParams.get('step')).toBe('2');

    expect(errorCode(await victor.completeOAuth(t, landed))).toBe('TOKEN_INVALID');
    expect(await whoIs(victor)).toBeNull();
    // Even a frontend with no verifier of its own that makes one up gets nowhere.
    expect(errorCode(await victor.completeOAuth(t, landed, (await newCodeVerifier()).codeVerifier))).toBe('TOKEN_INVALID');

    // Mallory can neither replay the callback nor use the code, even with the right verifier.
    const replay = await land(mallory, callbackUrl);
    expect(replay.searchParams.get('oauth_error')).toBe('invalid_state');
    expect(errorCode(await mallory.completeOAuth(t, landed))).toBe('TOKEN_INVALID');
    expect(await whoIs(mallory)).toBeNull();
    expect(await aftermath('mallory2', landed)).toEqual({ sessions: 0, codeSpent: true });
  });

  it('two browsers completing one code at once: the one without the verifier never wins, at most one session opens', async () => {
    const mallory = createBrowser();
    const landed = await land(mallory, await toCallback(mallory, 'mallory3'));
    const victor = createBrowser();
    await victor.startOAuth(t, 'corp', `${FRONTEND}/oauth`);
    const [own, stolen] = await Promise.all([mallory.completeOAuth(t, landed), victor.completeOAuth(t, landed)]);
    expect(errorCode(stolen)).toBe('TOKEN_INVALID');
    expect(await whoIs(victor)).toBeNull();
    const won = own.body.data?.completeOAuth ? 1 : 0;
    if (!won) expect(errorCode(own)).toBe('TOKEN_INVALID');
    expect(await aftermath('mallory3', landed)).toEqual({ sessions: won, codeSpent: true });
  });

  it('an oauth_code issued without a binding (before this rule) is refused even with a verifier', async () => {
    const ada = createBrowser();
    const landed = await land(ada, await toCallback(ada, 'legacy'));
    await t.db.query('UPDATE "OneTimeToken" SET "bindingHash" = NULL WHERE "tokenHash" = $1', [hashToken(landed.searchParams.get('oauth_code')!)]);
    expect(errorCode(await ada.completeOAuth(t, landed))).toBe('TOKEN_INVALID');
    expect(await aftermath('legacy', landed)).toEqual({ sessions: 0, codeSpent: true });
  });
});

describe('50. The arguments: codeChallenge at startOAuth, codeVerifier at completeOAuth', () => {
  it.each([
    ['empty', ''],
    ['42 characters', 'a'.repeat(42)],
    ['44 characters', 'a'.repeat(44)],
    ['padded', `${'a'.repeat(42)}=`],
    ['standard base64', `${'a'.repeat(41)}+/`],
    ['a hex digest', 'ab'.repeat(32)],
    ['a plain verifier', `${'a'.repeat(42)}.`],
  ])('startOAuth refuses a codeChallenge that is %s with BAD_USER_INPUT and stores no attempt', async (_name, codeChallenge) => {
    const before = await count('FROM "OAuthAttempt"');
    const r = await t.gql(START, { input: { provider: 'corp', redirectTo: `${FRONTEND}/oauth`, codeChallenge } });
    expect(r.body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', http: { status: 400 } });
    expect(r.body.errors?.[0]?.message).not.toContain(codeChallenge || '\u0000');
    expect(r.body.data).toBeNull();
    expect(await count('FROM "OAuthAttempt"')).toBe(before);
  });

  it('startOAuth without a codeChallenge is refused before anything runs', async () => {
    const before = await count('FROM "OAuthAttempt"');
    const r = await t.gql(START, { input: { provider: 'corp', redirectTo: `${FRONTEND}/oauth` } });
    expect(r.body.errors?.length).toBe(1);
    expect(r.body.data ?? null).toBeNull();
    expect(await count('FROM "OAuthAttempt"')).toBe(before);
  });

  it('a malformed codeVerifier is BAD_USER_INPUT and leaves the code to the browser that holds the real one', async () => {
    const ada = createBrowser();
    const landed = await land(ada, await toCallback(ada, 'careful'));
    for (const bad of ['', 'a'.repeat(42), 'a'.repeat(129), `${'a'.repeat(42)}+`, `${'a'.repeat(42)}=`, `${'a'.repeat(42)} `]) {
      const r = await ada.completeOAuth(t, landed, bad);
      expect(r.body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', http: { status: 400 } });
    }
    expect(await aftermath('careful', landed)).toEqual({ sessions: 0, codeSpent: false });
    // 128 unreserved characters is a valid (if wrong) verifier: it burns the code.
    const other = createBrowser();
    const otherLanded = await land(other, await toCallback(other, 'careful2'));
    expect(errorCode(await other.completeOAuth(t, otherLanded, `${'A'.repeat(64)}-._~${'z'.repeat(60)}`))).toBe('TOKEN_INVALID');
    expect(await aftermath('careful2', otherLanded)).toEqual({ sessions: 0, codeSpent: true });

    const r = await ada.completeOAuth(t, landed);
    expect(r.body.data.completeOAuth.user.email).toBe('careful@example.com');
    expect(await whoIs(ada)).toMatchObject({ email: 'careful@example.com' });
  });
});
