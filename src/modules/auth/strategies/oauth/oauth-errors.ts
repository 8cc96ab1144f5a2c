import { badInput } from '../../../../kernel/errors.ts';

// What the frontend learns when a callback fails: one of these codes as `oauth_error`, never a
// provider's message or a stack. The reason stays in the log, with the request id.

export const oauthErrorCodes = [
  /** The state is unknown, already used or expired (also a replayed callback). */
  'invalid_state',
  /** The user declined at the provider. */
  'access_denied',
  /** The provider answered with another error, or could not be reached. */
  'provider_error',
  /** The code exchange or the ID token checks failed (PKCE, state, nonce, issuer, audience, signature). */
  'exchange_failed',
  /** The provider gave no usable email address. */
  'email_missing',
  /** An account with this email exists, and the provider does not say the email is verified. */
  'email_not_verified',
  /** Anything else, on our side. */
  'server_error',
] as const;

export type OAuthErrorCode = (typeof oauthErrorCodes)[number];

export class OAuthFailure extends Error {
  readonly code: OAuthErrorCode;

  constructor(code: OAuthErrorCode, reason: string) {
    super(reason);
    this.name = 'OAuthFailure';
    this.code = code;
  }
}

/**
 * One line for the log from whatever a provider library threw: its error codes and fixed messages
 * (openid-client wraps the specific oauth4webapi error, e.g. 'unexpected JWT "aud" (audience)
 * claim value'). Never the values inside the causes: claims, the nonce, the provider's own text.
 */
export function describeFailure(err: unknown): string {
  if (!(err instanceof Error)) return 'non-error thrown';
  const { code, error, cause } = err as { code?: unknown; error?: unknown; cause?: unknown };
  const parts = [typeof code === 'string' ? code : err.name, err.message];
  if (cause instanceof Error && cause.message !== err.message) parts.push(cause.message);
  // An OAuth error response carries a registered code (invalid_grant, …); its description is the provider's prose.
  if (typeof error === 'string' && /^[\w.-]{1,64}$/.test(error)) parts.push(`error=${error}`);
  return parts.join(': ').slice(0, 300);
}

/** What startOAuth and completeOAuth refuse (the callback answers with the codes above instead). */
export const oauthErrors = {
  unknownProvider: () => badInput('Unknown OAuth provider'),
  badCodeChallenge: () => badInput('codeChallenge must be the base64url SHA-256 (43 characters, no padding) of a code verifier'),
  badCodeVerifier: () => badInput('codeVerifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~'),
  redirectNotAllowed: () => badInput('redirectTo must be a URL under FRONTEND_URL or ALLOWED_REDIRECTS'),
} as const;
