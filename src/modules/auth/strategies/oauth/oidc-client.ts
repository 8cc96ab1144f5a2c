import * as oidc from 'openid-client';
import type { OAuthProviderConfig } from '../../../../config/providers.ts';
import { isPlainLoopbackUrl } from '../../../../platform/loopback.ts';
import { describeFailure, OAuthFailure } from './oauth-errors.ts';
import type { AttemptSecrets, ExternalIdentity, ProviderClient } from './provider-client.ts';

// Google and any other OpenID Connect issuer, through openid-client: discovery, PKCE (S256),
// state, nonce, and the ID token checks (issuer, audience, expiry, signature) are the library's.

const SCOPE = 'openid email profile';

/**
 * The client authentication the server accepts: Basic is the one RFC 6749 requires every server
 * to support, Post only when the server lists it without Basic; none for a public (PKCE-only) client.
 */
function clientAuthentication(secret: string | undefined): oidc.ClientAuth {
  if (!secret) return oidc.None();
  return (as, client, body, headers) => {
    const methods = as.token_endpoint_auth_methods_supported;
    const postOnly = methods?.includes('client_secret_post') && !methods.includes('client_secret_basic');
    return (postOnly ? oidc.ClientSecretPost(secret) : oidc.ClientSecretBasic(secret))(as, client, body, headers);
  };
}

const claimString = (value: unknown): string | null => (typeof value === 'string' && value.trim() ? value.trim() : null);

export function createOidcClient(provider: OAuthProviderConfig & { issuer: string; clientId: string }, timeoutSeconds: number): ProviderClient {
  let discovered: Promise<oidc.Configuration> | undefined;

  /** Discovered on first use, not at start, so an unreachable provider never stops the service; a failure is retried next time. */
  function configuration(): Promise<oidc.Configuration> {
    discovered ??= oidc
      .discovery(new URL(provider.issuer), provider.clientId, undefined, clientAuthentication(provider.clientSecret), {
        execute: [
          // Plain http only for an issuer on loopback (config/env.ts refuses any other http issuer).
          ...(isPlainLoopbackUrl(provider.issuer) ? [oidc.allowInsecureRequests] : []),
          // The spec lets a client trust TLS for an ID token from the token endpoint; we also check
          // its signature against the issuer's published keys (fetched once, cached), so neither a
          // plain-http development issuer nor anything between us and the provider can forge one.
          oidc.enableNonRepudiationChecks,
        ],
        timeout: timeoutSeconds,
      })
      .catch((err: unknown) => {
        discovered = undefined;
        throw err;
      });
    return discovered;
  }

  return {
    id: provider.id,
    name: provider.name,

    async authorizationUrl({ state, nonce, codeVerifier }: AttemptSecrets, redirectUri: string): Promise<string> {
      const config = await configuration();
      return oidc.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri,
        scope: SCOPE,
        state,
        nonce,
        code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
        code_challenge_method: 'S256',
      }).href;
    },

    async exchange(callbackUrl: URL, { state, nonce, codeVerifier }: AttemptSecrets): Promise<ExternalIdentity> {
      const config = await configuration().catch((err: unknown) => {
        throw new OAuthFailure('provider_error', `discovery: ${describeFailure(err)}`);
      });
      let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
      try {
        tokens = await oidc.authorizationCodeGrant(config, callbackUrl, {
          pkceCodeVerifier: codeVerifier,
          expectedState: state,
          expectedNonce: nonce,
          idTokenExpected: true,
        });
      } catch (err) {
        throw new OAuthFailure('exchange_failed', describeFailure(err));
      }
      const idToken = tokens.claims()!;
      // Some providers (oidc-provider among them) put `email` in userinfo only; userinfo must
      // describe the same subject as the ID token, which fetchUserInfo checks.
      let userinfo: Record<string, unknown> = {};
      if (config.serverMetadata().userinfo_endpoint) {
        try {
          userinfo = await oidc.fetchUserInfo(config, tokens.access_token, idToken.sub);
        } catch (err) {
          throw new OAuthFailure('provider_error', `userinfo: ${describeFailure(err)}`);
        }
      }
      // email and email_verified are taken together from one source, never mixed across two.
      const emailSource: Record<string, unknown> = claimString(userinfo.email) ? userinfo : idToken;
      const named: Record<string, unknown> = { ...idToken, ...userinfo };
      return {
        subject: idToken.sub,
        email: claimString(emailSource.email),
        // Only an explicit yes counts (a few providers send the string "true").
        emailVerified: emailSource.email_verified === true || emailSource.email_verified === 'true',
        name: claimString(named.name) ?? claimString(named.preferred_username),
      };
    },
  };
}
