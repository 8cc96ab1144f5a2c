import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.ts';
import { ConfigError } from '../../src/config/config-error.ts';
import { relaxedRateLimits, startTestApp, type TestApp } from '../helpers/app.ts';
import { newCodeVerifier } from '../helpers/browser.ts';
import { startGitHubStandIn, type GitHubStandIn } from '../helpers/github-stand-in.ts';
import { followCallback, freePort } from '../helpers/oidc-provider.ts';

// GitHub flavour: plain OAuth 2 (no discovery, no ID token) against a local stand-in for GitHub's
// authorize, token and REST endpoints; the email is the primary verified one from /user/emails.

const START = `mutation($input: StartOAuthInput!) { startOAuth(input: $input) { authorizationUrl } }`;
const COMPLETE = `mutation($input: CompleteOAuthInput!) {
  completeOAuth(input: $input) { token user { id email emailVerified name hasPassword } session { method } }
}`;

let t: TestApp;
let gh: GitHubStandIn;
const frontend = 'http://app.test:3000';

beforeAll(async () => {
  gh = await startGitHubStandIn();
  const port = await freePort();
  t = await startTestApp({
    port,
    env: {
      PUBLIC_URL: `http://127.0.0.1:${port}`,
      FRONTEND_URL: frontend,
      OAUTH_PROVIDERS: 'github',
      OAUTH_GITHUB_NAME: 'GitHub',
      ...gh.env('github'),
      RATE_LIMITS: `${relaxedRateLimits};startOAuth=10000/15m:IP;completeOAuth=10000/15m:IP`,
    },
  });
  t.rememberSecret(gh.clientSecret);
});
afterAll(async () => {
  for (const token of gh.seen.accessTokens) t.rememberSecret(token);
  await t?.close();
  await gh?.close();
});

/** start -> GitHub's authorize page (signed in as `login`) -> our callback; returns where it redirects. */
async function signInAs(login: string | null, redirectTo = `${frontend}/done`) {
  gh.signedInAs = login;
  const { codeVerifier, codeChallenge } = await newCodeVerifier();
  t.rememberSecret(codeVerifier);
  const started = await t.gql(START, { input: { provider: 'github', redirectTo, codeChallenge } });
  expect(started.body.errors).toBeUndefined();
  const authorizationUrl = new URL(started.body.data.startOAuth.authorizationUrl);
  const atGitHub = await fetch(authorizationUrl, { redirect: 'manual' });
  expect(atGitHub.status).toBe(302);
  const back = new URL(atGitHub.headers.get('location')!);
  for (const key of ['code', 'state']) if (back.searchParams.get(key)) t.rememberSecret(back.searchParams.get(key)!);
  const answer = await followCallback(back);
  const code = answer.location.searchParams.get('oauth_code');
  if (code) t.rememberSecret(code);
  return { authorizationUrl, answer, code, codeVerifier, error: answer.location.searchParams.get('oauth_error') };
}

/** completeOAuth as the browser that started the sign-in: its oauth_code and its verifier. */
async function complete({ code, codeVerifier }: { code: string | null; codeVerifier: string }) {
  const r = await t.gql(COMPLETE, { input: { code, codeVerifier } });
  expect(r.body.errors).toBeUndefined();
  return r.body.data.completeOAuth;
}

const count = async (sql: string, params: unknown[] = []) => (await t.db.query<{ n: number }>(`SELECT count(*)::int AS n ${sql}`, params))[0]!.n;

describe('GitHub sign-in', () => {
  it('is listed with its display name', async () => {
    const r = await t.gql(`{ oauthProviders { id name } }`);
    expect(r.body.data.oauthProviders).toEqual([{ id: 'github', name: 'GitHub' }]);
  });

  it('start -> authorize -> token (PKCE) -> /user and /user/emails -> oauth_code -> completeOAuth -> me', async () => {
    gh.users.set('octocat', {
      id: 583231,
      login: 'octocat',
      name: 'The Octocat',
      emails: [
        { email: 'octo-old@example.com', primary: false, verified: true },
        { email: 'Octocat@Example.com', primary: true, verified: true },
      ],
    });
    const signed = await signInAs('octocat', `${frontend}/done?next=%2Fsettings`);
    const { authorizationUrl, answer } = signed;

    expect(`${authorizationUrl.origin}${authorizationUrl.pathname}`).toBe(`${gh.url}/login/oauth/authorize`);
    const q = authorizationUrl.searchParams;
    expect(q.get('client_id')).toBe(gh.clientId);
    expect(q.get('scope')).toBe('read:user user:email');
    expect(q.get('redirect_uri')).toBe(`${t.url}/oauth/callback`);
    expect(q.get('code_challenge_method')).toBe('S256');
    expect(q.get('state')).toMatch(/^[\w-]{43}$/);

    expect(answer.status).toBe(302);
    expect(answer.location.searchParams.get('next')).toBe('/settings');
    expect(gh.seen.codeVerifiers).toHaveLength(1);

    const payload = await complete(signed);
    expect(payload.user).toMatchObject({ email: 'octocat@example.com', emailVerified: true, name: 'The Octocat', hasPassword: false });
    expect(payload.session.method).toBe('OAUTH');
    const me = await t.gql(`{ me { id email } }`, {}, { token: payload.token });
    expect(me.body.data.me).toEqual({ id: payload.user.id, email: 'octocat@example.com' });
    const identities = await t.db.query('SELECT provider, subject, email FROM "OAuthAccount" WHERE "userId" = $1', [payload.user.id]);
    expect(identities).toEqual([{ provider: 'github', subject: '583231', email: 'octocat@example.com' }]);
  });

  it('signs the same GitHub user in as the same account, by id, even after the email changed', async () => {
    gh.users.set('hubot', { id: 1001, login: 'hubot', emails: [{ email: 'hubot@example.com', primary: true, verified: true }] });
    const first = await complete(await signInAs('hubot'));
    gh.users.get('hubot')!.emails = [{ email: 'hubot-new@example.com', primary: true, verified: true }];
    const second = await complete(await signInAs('hubot'));
    expect(second.user.id).toBe(first.user.id);
    expect(second.user.email).toBe('hubot@example.com');
    expect(first.user.name).toBe('hubot');
    expect(await count('FROM "User" WHERE email = $1', ['hubot-new@example.com'])).toBe(0);
  });

  it('links to an existing account when the primary email is verified', async () => {
    const { userId } = await t.register('mona@example.com');
    gh.users.set('mona', { id: 1002, login: 'mona', emails: [{ email: 'mona@example.com', primary: true, verified: true }] });
    expect((await complete(await signInAs('mona'))).user.id).toBe(userId);
  });

  it('does not link through an unverified primary email, and creates new accounts unverified', async () => {
    const { userId } = await t.register('taken@example.com');
    gh.users.set('squatter', { id: 1003, login: 'squatter', emails: [{ email: 'taken@example.com', primary: true, verified: false }] });
    const refused = await signInAs('squatter', `${frontend}/done`);
    expect(refused.code).toBeNull();
    expect(refused.answer.location.href).toBe(`${frontend}/done?oauth_error=email_not_verified`);
    expect(await count('FROM "OAuthAccount" WHERE "userId" = $1 OR subject = $2', [userId, '1003'])).toBe(0);

    gh.users.set('newbie', { id: 1004, login: 'newbie', emails: [{ email: 'newbie@example.com', primary: true, verified: false }] });
    expect((await complete(await signInAs('newbie'))).user).toMatchObject({ email: 'newbie@example.com', emailVerified: false });
  });

  it('redirects with oauth_error=provider_error when the GitHub API fails, creating nothing', async () => {
    gh.users.set('flaky', { id: 1005, login: 'flaky', emails: [{ email: 'flaky@example.com', primary: true, verified: true }] });
    gh.failEmails = true;
    try {
      const { error, code } = await signInAs('flaky');
      expect([error, code]).toEqual(['provider_error', null]);
    } finally {
      gh.failEmails = false;
    }
    expect(await count('FROM "User" WHERE email = $1', ['flaky@example.com'])).toBe(0);
    expect(await count('FROM "OAuthAccount" WHERE subject = $1', ['1005'])).toBe(0);
    const line = t.logs.find((l) => l.includes('"oauthError":"provider_error"'));
    expect(line).toMatch(/"requestId":"[\w-]+".*HTTP 500/);
  });

  it('redirects with oauth_error=access_denied when the user declines at GitHub', async () => {
    const { error, answer } = await signInAs(null);
    expect(error).toBe('access_denied');
    expect(answer.location.searchParams.has('error_description')).toBe(false);
  });
});

describe('GitHub configuration', () => {
  const base = { OAUTH_PROVIDERS: 'github', OAUTH_GITHUB_CLIENT_ID: 'id' };

  it("defaults to GitHub's own endpoints", () => {
    expect(loadConfig(base).oauthProviders[0]!.endpoints).toEqual({
      authorization: 'https://github.com/login/oauth/authorize',
      token: 'https://github.com/login/oauth/access_token',
      api: 'https://api.github.com',
    });
  });

  it.each([
    ['OAUTH_GITHUB_TOKEN_URL', { OAUTH_GITHUB_TOKEN_URL: 'http://github.internal/token' }],
    ['OAUTH_GITHUB_API_URL', { OAUTH_GITHUB_API_URL: 'ftp://127.0.0.1/api' }],
    ['OAUTH_GITHUB_CLIENT_ID', { OAUTH_GITHUB_CLIENT_ID: '' }],
  ])('refuses %s (plain http only on loopback; a client id is required)', (name, env) => {
    expect(() => loadConfig({ ...base, ...env })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, ...env })).toThrow(new RegExp(name));
  });

  it('refuses an http issuer that is not on loopback', () => {
    expect(() => loadConfig({ OAUTH_PROVIDERS: 'corp', OAUTH_CORP_CLIENT_ID: 'x', OAUTH_CORP_ISSUER: 'http://sso.example.com' })).toThrow(/OAUTH_CORP_ISSUER/);
  });
});
