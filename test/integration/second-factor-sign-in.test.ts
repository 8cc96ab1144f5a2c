import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { newCodeVerifier } from '../helpers/browser.ts';
import { createBrowser, followCallback, freePort, startOidcProvider, type TestOidcProvider } from '../helpers/oidc-provider.ts';
import { FRONTEND_URL, emailCodeFor, fastQueue, magicLinkFor, sendgridEnv } from '../helpers/passwordless.ts';
import { COMPLETE, CONFIRM_TOTP, ME, PASSWORD, START_TOTP, codeAt, codeOf, nextStep, passwordLogin } from '../helpers/second-factor.ts';
import { startSendgridFake, type SendgridFake } from '../helpers/sendgrid-fake.ts';

// Every first-factor method stops at the second factor (issue 15): magic link, email code and
// OAuth sign-ins of an account with TOTP return a pending session, completed like a password
// sign-in's. And a second factor set up on an address nobody had proven is dropped by the
// owner's proof of the mailbox, like the password set there.

const PAYLOAD = `token secondFactorRequired session { id method secondFactorPending }`;
const MAGIC = `mutation($email: String!, $token: String!) { loginWithMagicLink(input: { email: $email, token: $token }) { ${PAYLOAD} } }`;
const EMAIL_CODE = `mutation($email: String!, $code: String!) { loginWithEmailCode(input: { email: $email, code: $code }) { ${PAYLOAD} } }`;
const START_OAUTH = `mutation($input: StartOAuthInput!) { startOAuth(input: $input) { authorizationUrl } }`;
const COMPLETE_OAUTH = `mutation($input: CompleteOAuthInput!) { completeOAuth(input: $input) { ${PAYLOAD} } }`;

let fake: SendgridFake;
let corp: TestOidcProvider;
let t: TestApp;
let callback: string;

beforeAll(async () => {
  fake = await startSendgridFake();
  const port = await freePort();
  callback = `http://127.0.0.1:${port}/oauth/callback`;
  corp = await startOidcProvider({ redirectUri: callback });
  t = await startTestApp({
    port,
    configure: fastQueue,
    env: {
      ...sendgridEnv(
        fake,
        'requestMagicLink=1000/1h:IP,1000/15m:EMAIL;requestEmailCode=1000/1h:IP,1000/15m:EMAIL;startOAuth=1000/15m:IP;completeOAuth=1000/15m:IP',
      ),
      PUBLIC_URL: `http://127.0.0.1:${port}`,
      OAUTH_PROVIDERS: 'corp',
      ...corp.env('corp'),
    },
  });
  t.rememberSecret(corp.clientSecret);
});
afterAll(async () => {
  try {
    await t?.close();
  } finally {
    await fake?.close();
    await corp?.close();
  }
});

async function magicLinkSignIn(email: string) {
  const r = await t.gql(MAGIC, { email, token: await magicLinkFor(t, fake, email) });
  expect(r.body.errors).toBeUndefined();
  return r.body.data.loginWithMagicLink;
}

async function oauthSignIn(login: string) {
  const { codeVerifier, codeChallenge } = await newCodeVerifier();
  t.rememberSecret(codeVerifier);
  const started = await t.gql(START_OAUTH, { input: { provider: 'corp', redirectTo: `${FRONTEND_URL}/done`, codeChallenge } });
  const back = await createBrowser().signIn(started.body.data.startOAuth.authorizationUrl, { login, stopAt: callback });
  for (const key of ['code', 'state']) if (back.searchParams.get(key)) t.rememberSecret(back.searchParams.get(key)!);
  const code = (await followCallback(back)).location.searchParams.get('oauth_code')!;
  t.rememberSecret(code);
  const r = await t.gql(COMPLETE_OAUTH, { input: { code, codeVerifier } });
  expect(r.body.errors).toBeUndefined();
  return r.body.data.completeOAuth;
}

/** Turns TOTP on for the account of `token` (a passwordless one is asked no password) and returns the secret. */
async function enrol(token: string, password?: string): Promise<string> {
  const started = await t.gql(START_TOTP, password ? { input: { password } } : {}, { token });
  expect(started.body.errors).toBeUndefined();
  const secret: string = started.body.data.startTotpEnrollment.secret;
  t.rememberSecret(secret);
  const confirmed = await t.gql(CONFIRM_TOTP, { code: codeAt(secret, t.clock) }, { token });
  expect(confirmed.body.errors).toBeUndefined();
  for (const code of confirmed.body.data.confirmTotpEnrollment.codes) t.rememberSecret(code);
  return secret;
}

async function expectPendingThenComplete(signedIn: { token: string; secondFactorRequired: boolean; session: any }, secret: string, method: string) {
  expect(signedIn).toMatchObject({ secondFactorRequired: true, session: { method, secondFactorPending: true } });
  expect(codeOf(await t.gql(`{ mySessions { id } }`, {}, { token: signedIn.token }))).toBe('SECOND_FACTOR_REQUIRED');
  nextStep(t.clock);
  const done = await t.gql(COMPLETE, { code: codeAt(secret, t.clock) }, { token: signedIn.token });
  expect(done.body.data.completeSecondFactor).toMatchObject({ token: signedIn.token, secondFactorRequired: false });
  expect((await t.gql(`{ mySessions { id } }`, {}, { token: signedIn.token })).body.data.mySessions.length).toBeGreaterThan(0);
}

describe('each first factor stops at the second', () => {
  it('magic link', async () => {
    const email = 'magic-2fa@example.com';
    const first = await magicLinkSignIn(email); // creates the account, email proven
    expect(first.secondFactorRequired).toBe(false);
    const secret = await enrol(first.token);
    await expectPendingThenComplete(await magicLinkSignIn(email), secret, 'MAGIC_LINK');
  });

  it('email code', async () => {
    const email = 'code-2fa@example.com';
    const first = await t.gql(EMAIL_CODE, { email, code: await emailCodeFor(t, fake, email) });
    const secret = await enrol(first.body.data.loginWithEmailCode.token);
    const again = await t.gql(EMAIL_CODE, { email, code: await emailCodeFor(t, fake, email) });
    await expectPendingThenComplete(again.body.data.loginWithEmailCode, secret, 'EMAIL_CODE');
  });

  it('OAuth', async () => {
    corp.accounts.set('grace-1', { email: 'grace-2fa@example.com', email_verified: true, name: 'Grace' });
    const first = await oauthSignIn('grace-1');
    expect(first.secondFactorRequired).toBe(false);
    const secret = await enrol(first.token);
    await expectPendingThenComplete(await oauthSignIn('grace-1'), secret, 'OAUTH');
  });
});

it('a second factor set up on an address nobody proved is dropped when its owner proves the mailbox', async () => {
  const email = 'planted-2fa@example.com';
  const planted = await t.register(email, PASSWORD);
  await enrol(planted.token, PASSWORD);
  expect((await passwordLogin(t, email)).pending).toBe(true);
  // The owner signs in by magic link: no second factor to give, none left on the account.
  const owner = await magicLinkSignIn(email);
  expect(owner.secondFactorRequired).toBe(false);
  expect((await t.gql(ME, {}, { token: owner.token })).body.data.me).toMatchObject({ secondFactorEnabled: false, recoveryCodesLeft: 0 });
  const [row] = await t.db.query(`SELECT "totpSecret", "totpEnabledAt" FROM "User" WHERE email = $1`, [email]);
  expect(row).toEqual({ totpSecret: null, totpEnabledAt: null });
  expect(await t.db.query(`SELECT id FROM "RecoveryCode" WHERE "userId" = $1`, [planted.userId])).toEqual([]);
});

it('TOTP turned on while a password sign-in hashes: the session it opens is pending (the factor is read under the lock, not before the hash)', async () => {
  const email = 'hash-race-2fa@example.com';
  const { token } = await t.register(email, PASSWORD);
  const started = await t.gql(START_TOTP, { input: { password: PASSWORD } }, { token });
  const { secret } = started.body.data.startTotpEnrollment;
  t.rememberSecret(secret);

  const { hasher } = t.app.services;
  const verify = hasher.verify.bind(hasher);
  let release = () => {};
  const gate = new Promise<void>((resolve) => (release = resolve));
  let entered = () => {};
  const hashing = new Promise<void>((resolve) => (entered = resolve));
  vi.spyOn(hasher, 'verify').mockImplementationOnce(async (hash, password) => {
    entered();
    await gate;
    return verify(hash, password);
  });
  try {
    const login = passwordLogin(t, email); // the account is read (no TOTP yet), then the password hashed
    await hashing;
    const confirmed = await t.gql(CONFIRM_TOTP, { code: codeAt(secret, t.clock) }, { token });
    expect(confirmed.body.errors).toBeUndefined();
    release();
    expect((await login).pending).toBe(true);
  } finally {
    release();
    vi.restoreAllMocks();
  }
});
