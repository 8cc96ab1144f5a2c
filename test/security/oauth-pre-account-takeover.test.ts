import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { createBrowser, type Browser } from '../helpers/browser.ts';
import { startGitHubStandIn, type GitHubStandIn } from '../helpers/github-stand-in.ts';
import { freePort, startOidcProvider, type TestOidcProvider } from '../helpers/oidc-provider.ts';
import { FRONTEND_URL, LOGIN_WITH_EMAIL_CODE, LOGIN_WITH_MAGIC_LINK, emailCodeFor, fastQueue, magicLinkFor, sendgridEnv } from '../helpers/passwordless.ts';
import { PASSWORD, login, recordWs, untilSubscribed } from '../helpers/realtime.ts';
import { eventually } from '../helpers/eventually.ts';
import { startSendgridFake, type SendgridFake } from '../helpers/sendgrid-fake.ts';
import { connectWs } from '../../scripts/ws-connection.ts';

// SECURITY-CHECKLIST.md item 51 (and 34): an identity whose provider does not vouch for the email is
// never linked to an existing account; it may create an unverified one, but when the owner proves
// the address (magic link, email code, verified OAuth), every credential set before that proof
// (password, sessions, OAuth links, codes not yet traded) is dropped, and signing in through the old
// identity no longer reaches that account. Each story: the attacker's steps, the owner's, then what
// each holds. The addresses are in ADMIN_EMAILS: the role must go to the owner only.

const ADMIN_ADDRESSES = ['ceo@victim.example', 'cfo@victim.example', 'cto@victim.example', 'coo@victim.example'];
const ME = `{ me { id email emailVerified role } }`;

let fake: SendgridFake;
let gh: GitHubStandIn;
let corp: TestOidcProvider;
let acme: TestOidcProvider;
let t: TestApp;
let callback: string;

beforeAll(async () => {
  fake = await startSendgridFake();
  gh = await startGitHubStandIn();
  const port = await freePort();
  callback = `http://127.0.0.1:${port}/oauth/callback`;
  corp = await startOidcProvider({ redirectUri: callback });
  acme = await startOidcProvider({ redirectUri: callback });
  const env = sendgridEnv(fake, 'startOAuth=10000/15m:IP;completeOAuth=10000/15m:IP');
  t = await startTestApp({
    port,
    configure: fastQueue,
    env: {
      ...env,
      PUBLIC_URL: `http://127.0.0.1:${port}`,
      ADMIN_EMAILS: ADMIN_ADDRESSES.join(','),
      OAUTH_PROVIDERS: 'corp,acme,github',
      ...corp.env('corp'),
      ...acme.env('acme'),
      ...gh.env('github'),
    },
  });
  for (const secret of [corp.clientSecret, acme.clientSecret, gh.clientSecret]) t.rememberSecret(secret);
});
afterAll(async () => {
  for (const token of gh.seen.accessTokens) t?.rememberSecret(token);
  try {
    await t?.close();
  } finally {
    await Promise.all([fake?.close(), gh?.close(), corp?.close(), acme?.close()]);
  }
});

type Provider = 'corp' | 'acme' | 'github';
const errorCode = (r: { body: { errors?: any[] } }) => r.body.errors?.[0]?.extensions.code;
const rows = (sql: string, params: unknown[]) => t.db.query(sql, params);

/** The whole browser path up to the frontend page: sign-in button, provider, callback. */
async function viaProvider(browser: Browser, provider: Provider, login: string): Promise<URL> {
  const { authorizationUrl } = await browser.startOAuth(t, provider, `${FRONTEND_URL}/oauth`);
  let back: URL;
  if (provider === 'github') {
    gh.signedInAs = login;
    back = await browser.open(authorizationUrl, callback);
  } else {
    back = await browser.signIn(authorizationUrl, { login, stopAt: callback });
  }
  for (const key of ['code', 'state']) t.rememberSecret(back.searchParams.get(key)!);
  const landed = await browser.open(back, FRONTEND_URL);
  if (landed.searchParams.get('oauth_code')) t.rememberSecret(landed.searchParams.get('oauth_code')!);
  return landed;
}

/** An account at `provider` that claims `email`, the provider not vouching for it. */
function unverifiedIdentity(provider: Provider, login: string, email: string) {
  if (provider === 'github') gh.users.set(login, { id: 9000 + gh.users.size, login, emails: [{ email, primary: true, verified: false }] });
  else (provider === 'corp' ? corp : acme).accounts.set(login, { email, email_verified: false });
}

/**
 * Mallory plants an account on the victim's address: signs up through her unverified identity, sets
 * a password, signs in with it too, listens on a WebSocket, and keeps an oauth_code for later.
 */
async function plant(email: string, provider: Provider, subjectLogin: string) {
  unverifiedIdentity(provider, subjectLogin, email);
  const mallory = createBrowser();
  const first = await mallory.completeOAuth(t, await viaProvider(mallory, provider, subjectLogin));
  const { token, user, session } = first.body.data.completeOAuth;
  expect(user).toMatchObject({ email, emailVerified: false, role: 'USER', hasPassword: false });
  const set = await t.gql(`mutation($input: ChangePasswordInput!) { changePassword(input: $input) }`, { input: { newPassword: PASSWORD } }, { token });
  expect(set.body.data?.changePassword).toBe(true);
  const byPassword = await login(t, email);
  const ws = connectWs(t.url, { token });
  const feed = recordWs(ws);
  await untilSubscribed(t, email, [(ids) => ids.some((id) => feed.has(id))]);
  const keptCode = await viaProvider(mallory, provider, subjectLogin);
  expect(keptCode.searchParams.get('oauth_code')).toBeTruthy();
  return { mallory, userId: user.id as string, tokens: [token, byPassword.token], sessionIds: [session.id, byPassword.sessionId], ws, feed, keptCode };
}

/** The owner proves the address; returns the owner's session token. */
async function ownerProves(email: string, proof: 'magic link' | 'email code' | 'verified OAuth', ownerLogin: string): Promise<string> {
  if (proof === 'magic link') {
    const token = await magicLinkFor(t, fake, email);
    return (await t.gql(LOGIN_WITH_MAGIC_LINK, { email, token })).body.data.loginWithMagicLink.token;
  }
  if (proof === 'email code') {
    const code = await emailCodeFor(t, fake, email);
    return (await t.gql(LOGIN_WITH_EMAIL_CODE, { email, code })).body.data.loginWithEmailCode.token;
  }
  acme.accounts.set(ownerLogin, { email, email_verified: true });
  const owner = createBrowser();
  const r = await owner.completeOAuth(t, await viaProvider(owner, 'acme', ownerLogin));
  return r.body.data.completeOAuth.token;
}

describe('51. A proof of the mailbox drops every credential planted on an unverified account', () => {
  it.each([
    ['magic link', 'corp', 'ceo@victim.example', 'MAGIC_LINK'],
    ['email code', 'corp', 'cfo@victim.example', 'EMAIL_CODE'],
    ['verified OAuth', 'corp', 'cto@victim.example', 'OAUTH'],
    ['magic link', 'github', 'coo@victim.example', 'MAGIC_LINK'],
  ] as const)('owner proves by %s after an unverified %s identity planted the account', async (proof, provider, email, via) => {
    const planted = await plant(email, provider, `mallory-${via}-${provider}`);
    const ownerToken = await ownerProves(email, proof, `owner-${via}`);

    // The owner holds the account, verified, and the ADMIN role that ADMIN_EMAILS gives it.
    const me = await t.gql(ME, {}, { token: ownerToken });
    expect(me.body.data.me).toEqual({ id: planted.userId, email, emailVerified: true, role: 'ADMIN' });
    expect(errorCode(await t.gql(`{ adminUsers(first: 1) { totalCount } }`, {}, { token: ownerToken }))).toBeUndefined();

    // Mallory's sessions are dead, her socket was told and closed with 4403.
    for (const token of planted.tokens) expect((await t.gql(ME, {}, { token })).status).toBe(401);
    const revoked = await rows('SELECT "revokeReason" FROM "Session" WHERE id = ANY($1::uuid[])', [planted.sessionIds]);
    expect(revoked.map((r) => r.revokeReason)).toEqual(['PASSWORD_RESET', 'PASSWORD_RESET']);
    await eventually(() => planted.feed.timeline.includes('closed:4403'), 'the socket to close');
    expect(planted.feed.timeline).toContain(`event:${planted.sessionIds[0]}:PASSWORD_RESET`);
    await planted.ws.dispose();

    // The oauth_code she kept is gone, her password too, and her identity reaches nothing.
    expect(errorCode(await planted.mallory.completeOAuth(t, planted.keptCode))).toBe('TOKEN_INVALID');
    const byPassword = await t.gql(`mutation($input: LoginInput!) { login(input: $input) { token } }`, { input: { email, password: PASSWORD } });
    expect(errorCode(byPassword)).toBe('UNAUTHENTICATED');
    const again = await viaProvider(planted.mallory, provider, `mallory-${via}-${provider}`);
    expect([again.searchParams.get('oauth_code'), again.searchParams.get('oauth_error')]).toEqual([null, 'email_not_verified']);

    const [user] = await rows('SELECT "passwordHash", "emailVerified" FROM "User" WHERE id = $1', [planted.userId]);
    expect(user).toEqual({ passwordHash: null, emailVerified: true });
    const links = await rows('SELECT provider, subject FROM "OAuthAccount" WHERE "userId" = $1', [planted.userId]);
    expect(links).toEqual(via === 'OAUTH' ? [{ provider: 'acme', subject: `owner-${via}` }] : []);
    expect(await rows(`SELECT id FROM "OneTimeToken" WHERE "userId" = $1 AND purpose = 'OAUTH_CODE' AND "consumedAt" IS NULL`, [planted.userId])).toEqual([]);
    const live = await rows('SELECT id FROM "Session" WHERE "userId" = $1 AND "revokedAt" IS NULL', [planted.userId]);
    expect(live).toHaveLength(1);

    // The audit log has the takeover and what it dropped.
    const audited = await rows(`SELECT data FROM "AuditEvent" WHERE "userId" = $1 AND type = 'email.verified'`, [planted.userId]);
    expect(audited.map((e) => JSON.parse(e.data))).toEqual([
      { takeover: true, reason: 'proof_of_mailbox', proof: via, dropped: { password: true, sessions: expect.any(Number), oauthLinks: [provider] } },
    ]);
    expect(JSON.parse(audited[0].data).dropped.sessions).toBeGreaterThanOrEqual(2);
  });

  it('an oauth_code fetched before the proof and traded after it signs nobody in', async () => {
    const email = 'race@victim.example';
    unverifiedIdentity('corp', 'mallory-race', email);
    const mallory = createBrowser();
    const fetchedBefore = await viaProvider(mallory, 'corp', 'mallory-race');
    const ownerToken = await ownerProves(email, 'magic link', 'unused');
    expect(errorCode(await mallory.completeOAuth(t, fetchedBefore))).toBe('TOKEN_INVALID');
    expect((await mallory.gql(t, ME)).body.data.me).toBeNull();
    const owner = (await t.gql(ME, {}, { token: ownerToken })).body.data.me;
    expect(owner).toMatchObject({ email, emailVerified: true });
    expect(await rows('SELECT id FROM "Session" WHERE "userId" = $1', [owner.id])).toHaveLength(1);
    expect(await rows('SELECT id FROM "OAuthAccount" WHERE "userId" = $1', [owner.id])).toEqual([]);
  });

  it('an oauth_code traded at the same moment as the proof never leaves a live session on the claimed account', async () => {
    for (let i = 0; i < 5; i++) {
      const email = `race${i}@victim.example`;
      unverifiedIdentity('corp', `mallory-race${i}`, email);
      const mallory = createBrowser();
      const kept = await viaProvider(mallory, 'corp', `mallory-race${i}`);
      const token = await magicLinkFor(t, fake, email);
      const [own, theirs] = await Promise.all([t.gql(LOGIN_WITH_MAGIC_LINK, { email, token }), mallory.completeOAuth(t, kept)]);
      const ownerId = own.body.data.loginWithMagicLink.user.id;
      const live = await rows('SELECT method::text FROM "Session" WHERE "userId" = $1 AND "revokedAt" IS NULL', [ownerId]);
      expect(live).toEqual([{ method: 'MAGIC_LINK' }]);
      if (theirs.body.data) expect((await t.gql(ME, {}, { token: theirs.body.data.completeOAuth.token })).status).toBe(401);
      else expect(errorCode(theirs)).toBe('TOKEN_INVALID');
    }
  });

  it('an identity that later vouches for the address of the account it created claims it: what was set before goes, it stays', async () => {
    const email = 'late-verified@example.com';
    corp.accounts.set('slow-provider', { email, email_verified: false });
    const ada = createBrowser();
    const first = (await ada.completeOAuth(t, await viaProvider(ada, 'corp', 'slow-provider'))).body.data.completeOAuth;
    const squat = await t.gql(
      `mutation($input: ChangePasswordInput!) { changePassword(input: $input) }`,
      { input: { newPassword: PASSWORD } },
      { token: first.token },
    );
    expect(squat.body.data.changePassword).toBe(true);
    corp.accounts.set('slow-provider', { email, email_verified: true });
    const second = (await ada.completeOAuth(t, await viaProvider(ada, 'corp', 'slow-provider'))).body.data.completeOAuth;
    expect(second.user).toMatchObject({ id: first.user.id, emailVerified: true, hasPassword: false });
    expect((await t.gql(ME, {}, { token: first.token })).status).toBe(401);
    expect(await rows('SELECT provider FROM "OAuthAccount" WHERE "userId" = $1', [first.user.id])).toEqual([{ provider: 'corp' }]);
    const [event] = await rows(`SELECT data FROM "AuditEvent" WHERE "userId" = $1 AND type = 'email.verified'`, [first.user.id]);
    expect(JSON.parse(event.data)).toMatchObject({ proof: 'OAUTH', dropped: { password: true, sessions: 1, oauthLinks: [] } });
  });
});

describe('34. email_verified false for an email that has a local account -> no link', () => {
  it.each(['corp', 'github'] as const)('an unverified %s identity never links to an existing account, verified or not', async (provider) => {
    for (const verified of [false, true]) {
      const email = `owner-${provider}-${verified}@example.com`;
      const local = await t.register(email);
      if (verified) await rows('UPDATE "User" SET "emailVerified" = true WHERE id = $1', [local.userId]);
      unverifiedIdentity(provider, `squatter-${provider}-${verified}`, email.toUpperCase());
      const sessions = await rows('SELECT id FROM "Session"', []);
      const landed = await viaProvider(createBrowser(), provider, `squatter-${provider}-${verified}`);
      expect([landed.searchParams.get('oauth_code'), landed.searchParams.get('oauth_error')]).toEqual([null, 'email_not_verified']);
      expect(await rows('SELECT id FROM "OAuthAccount" WHERE "userId" = $1', [local.userId])).toEqual([]);
      expect(await rows('SELECT id FROM "Session"', [])).toHaveLength(sessions.length);
      expect((await t.gql(ME, {}, { token: local.token })).body.data.me.id).toBe(local.userId);
    }
  });

  it('an identity stays with its user when its email later matches another account', async () => {
    corp.accounts.set('drifter', { email: 'drifter@example.com', email_verified: true });
    const browser = createBrowser();
    const own = (await browser.completeOAuth(t, await viaProvider(browser, 'corp', 'drifter'))).body.data.completeOAuth.user.id;
    const other = await t.register('someone-else@example.com');
    corp.accounts.set('drifter', { email: 'someone-else@example.com', email_verified: true });
    const again = (await browser.completeOAuth(t, await viaProvider(browser, 'corp', 'drifter'))).body.data.completeOAuth.user.id;
    expect(again).toBe(own);
    expect(again).not.toBe(other.userId);
  });
});
