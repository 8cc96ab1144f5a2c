import { isSecureOrLoopbackUrl } from '../platform/loopback.ts';
import { ConfigError } from './config-error.ts';
import { defaultPasskeyPolicy, type PasskeyPolicy } from './policies.ts';

// The settings derived from groups of variables: an OAuth provider's (OAUTH_<ID>_*) and the
// passkeys' relying party (WEBAUTHN_*).

export interface OAuthProviderConfig {
  id: string;
  name: string;
  clientId?: string;
  clientSecret?: string;
  issuer?: string;
  /** Only for `github` (plain OAuth 2, no discovery): overridable so tests can use a stand-in. */
  endpoints?: { authorization: string; token: string; api: string };
}

export type WebauthnConfig = { rpId: string; rpName: string; origins: string[] } & PasskeyPolicy;

export function oauthProvider(id: string, env: Record<string, string | undefined>): OAuthProviderConfig {
  const key = `OAUTH_${id.toUpperCase().replace(/-/g, '_')}`;
  const issuer = env[`${key}_ISSUER`] || (id === 'google' ? 'https://accounts.google.com' : undefined);
  if (!issuer && id !== 'github') {
    throw new ConfigError(`Invalid configuration:\n  ${key}_ISSUER: required for the OAuth provider "${id}"`);
  }
  if (!env[`${key}_CLIENT_ID`]) {
    throw new ConfigError(`Invalid configuration:\n  ${key}_CLIENT_ID: required for the OAuth provider "${id}"`);
  }
  const endpoints = issuer
    ? undefined
    : {
        authorization: env[`${key}_AUTHORIZATION_URL`] || 'https://github.com/login/oauth/authorize',
        token: env[`${key}_TOKEN_URL`] || 'https://github.com/login/oauth/access_token',
        api: (env[`${key}_API_URL`] || 'https://api.github.com').replace(/\/+$/, ''),
      };
  // Codes, tokens and identities travel over these: plain http only where it cannot leave the machine.
  const urls = { ISSUER: issuer, AUTHORIZATION_URL: endpoints?.authorization, TOKEN_URL: endpoints?.token, API_URL: endpoints?.api };
  for (const [name, value] of Object.entries(urls)) {
    if (value !== undefined && !isSecureOrLoopbackUrl(value)) {
      throw new ConfigError(`Invalid configuration:\n  ${key}_${name}: must be an https URL (http only on loopback)`);
    }
  }
  return {
    id,
    name: env[`${key}_NAME`] || id,
    clientId: env[`${key}_CLIENT_ID`],
    clientSecret: env[`${key}_CLIENT_SECRET`],
    issuer,
    ...(endpoints && { endpoints }),
  };
}

/**
 * The relying party of passkeys: by default the host and origin of FRONTEND_URL, where the pages
 * that call navigator.credentials live. Every origin must be the RP id or one of its subdomains,
 * or no browser would ever produce a response the service accepts.
 */
export function webauthnOf(rpIdSetting: string | undefined, originSettings: string[], frontendUrl: string, rpName: string): WebauthnConfig {
  const rpId = rpIdSetting || new URL(frontendUrl).hostname;
  const origins = originSettings.length ? originSettings.map((o) => new URL(o).origin) : [new URL(frontendUrl).origin];
  for (const origin of origins) {
    const host = new URL(origin).hostname;
    if (host !== rpId && !host.endsWith(`.${rpId}`)) {
      throw new ConfigError(`Invalid configuration:\n  WEBAUTHN_ORIGINS: ${origin} is not on WEBAUTHN_RP_ID ${rpId} or a subdomain of it`);
    }
  }
  return { rpId, rpName, origins, ...defaultPasskeyPolicy };
}
