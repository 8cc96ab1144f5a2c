import * as oidc from 'openid-client';
import type { OAuthProviderConfig } from '../../../../config/providers.ts';
import { isPlainLoopbackUrl } from '../../../../platform/loopback.ts';
import { describeFailure, OAuthFailure } from './oauth-errors.ts';
import type { AttemptSecrets, ExternalIdentity, ProviderClient } from './provider-client.ts';

// GitHub speaks OAuth 2 without OpenID Connect: no discovery, no ID token, no nonce. openid-client
// still runs the authorization response and code exchange (state and PKCE S256 checked); the
// identity comes from the REST API: GET /user, and GET /user/emails for the primary verified email.

const SCOPE = 'read:user user:email';

interface GitHubUser {
  id?: unknown;
  login?: unknown;
  name?: unknown;
}

interface GitHubEmail {
  email?: unknown;
  primary?: unknown;
  verified?: unknown;
}

type GitHubEndpoints = NonNullable<OAuthProviderConfig['endpoints']>;

export function createGitHubClient(provider: OAuthProviderConfig & { clientId: string; endpoints: GitHubEndpoints }, timeoutSeconds: number): ProviderClient {
  const { endpoints } = provider;
  const config = new oidc.Configuration(
    {
      // There is no issuer to discover; this only names the server inside openid-client.
      issuer: new URL(endpoints.authorization).origin,
      authorization_endpoint: endpoints.authorization,
      token_endpoint: endpoints.token,
    },
    provider.clientId,
    provider.clientSecret,
    oidc.ClientSecretPost(provider.clientSecret),
  );
  config.timeout = timeoutSeconds;
  // config/env.ts allows plain http only for endpoints on loopback (a local stand-in); https stays https.
  if ([endpoints.authorization, endpoints.token, endpoints.api].some(isPlainLoopbackUrl)) oidc.allowInsecureRequests(config);

  async function getJson<T>(accessToken: string, path: string): Promise<T> {
    const headers = new Headers({
      accept: 'application/vnd.github+json',
      'x-github-api-version': '2022-11-28',
      // GitHub refuses API requests that carry no User-Agent.
      'user-agent': 'Portcullis',
    });
    let response: Response;
    try {
      response = await oidc.fetchProtectedResource(config, accessToken, new URL(`${endpoints.api}${path}`), 'GET', undefined, headers);
    } catch (err) {
      throw new OAuthFailure('provider_error', `GET ${path}: ${describeFailure(err)}`);
    }
    if (!response.ok) throw new OAuthFailure('provider_error', `GET ${path}: HTTP ${response.status}`);
    return (await response.json().catch(() => {
      throw new OAuthFailure('provider_error', `GET ${path}: not JSON`);
    })) as T;
  }

  return {
    id: provider.id,
    name: provider.name,

    async authorizationUrl({ state, codeVerifier }: AttemptSecrets, redirectUri: string): Promise<string> {
      return oidc.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri,
        scope: SCOPE,
        state,
        code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
        code_challenge_method: 'S256',
        // Show the account chooser rather than silently reusing whoever is signed in at GitHub.
        prompt: 'select_account',
      }).href;
    },

    async exchange(callbackUrl: URL, { state, codeVerifier }: AttemptSecrets): Promise<ExternalIdentity> {
      let accessToken: string;
      try {
        const tokens = await oidc.authorizationCodeGrant(config, callbackUrl, { pkceCodeVerifier: codeVerifier, expectedState: state });
        accessToken = tokens.access_token;
      } catch (err) {
        throw new OAuthFailure('exchange_failed', describeFailure(err));
      }
      const user = await getJson<GitHubUser>(accessToken, '/user');
      if ((typeof user.id !== 'number' && typeof user.id !== 'string') || user.id === '') {
        throw new OAuthFailure('provider_error', 'GET /user: no id');
      }
      const emails = await getJson<GitHubEmail[]>(accessToken, '/user/emails');
      const list = Array.isArray(emails) ? emails.filter((e) => typeof e.email === 'string') : [];
      // The primary address, verified or not. Only GitHub's explicit `verified: true` counts: an
      // unverified address may create an account (unverified), never link to an existing one, and
      // loses its link when the address's owner proves it (oauth-accounts.ts, claimUnverified).
      const primary = list.find((e) => e.primary === true && e.verified === true) ?? list.find((e) => e.primary === true);
      const name = typeof user.name === 'string' && user.name.trim() ? user.name.trim() : typeof user.login === 'string' ? user.login : null;
      return {
        subject: String(user.id),
        email: primary ? (primary.email as string) : null,
        emailVerified: primary?.verified === true,
        name,
      };
    },
  };
}
