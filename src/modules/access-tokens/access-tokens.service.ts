import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { AccessTokenPolicy } from '../../config/policies.ts';
import { accessTokenErrors } from './access-token-errors.ts';
import type { AuthMethod, SecondFactor } from '../../generated/prisma/client.ts';
import type { Clock } from '../../platform/clock.ts';
import type { Viewer } from '../sessions/sessions.service.ts';
import type { SigningKeys } from './signing-keys.ts';

// Access tokens for the services behind Portcullis (API.md "Access tokens"): a JWT signed with
// ES256 that a resource server verifies alone against /.well-known/jwks.json. A session's
// revocation stops new tokens at once (the caller must hold a live session); tokens already issued
// live until their `exp`, ACCESS_TOKEN_TTL.

export const AUDIENCE_MAX = 200;
export const JWKS_PATH = '/.well-known/jwks.json';
export const DISCOVERY_PATH = '/.well-known/openid-configuration';

export interface IssuedAccessToken {
  token: string;
  expiresAt: Date;
}

/** RFC 8176 values of each way to sign in. */
const amrOfMethod: Record<AuthMethod, string> = {
  PASSWORD: 'pwd',
  MAGIC_LINK: 'email',
  EMAIL_CODE: 'email',
  OAUTH: 'fed',
  // A user-verified passkey: possession of a hardware-bound key plus the device's PIN or biometric.
  PASSKEY: 'hwk',
};

/** RFC 8176 values of the second factor a session gave (recovery codes are one-time passwords too). */
const amrOfSecondFactor: Record<SecondFactor, string[]> = { TOTP: ['otp'], RECOVERY_CODE: ['otp'], PASSKEY: ['hwk', 'user'] };

/**
 * The `amr` claim: the session's first factor, then any second factor it passed (`otp`, or
 * `hwk` + `user` for a passkey), plus `mfa` once there are two.
 */
export function authenticationMethods(method: AuthMethod, secondFactors: readonly string[] = []): string[] {
  const amr = [amrOfMethod[method], ...secondFactors];
  if (secondFactors.length) amr.push('mfa');
  return [...new Set(amr)];
}

function checkAudience(audience: string): string {
  if (!audience.length || audience.length > AUDIENCE_MAX) {
    throw accessTokenErrors.audienceLength(AUDIENCE_MAX);
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
  if (/[\u0000-\u001f\u007f-\u009f]/.test(audience)) throw accessTokenErrors.audienceControlCharacters();
  return audience;
}

interface Deps {
  clock: Clock;
  policy: AccessTokenPolicy;
  publicUrl: string;
  signingKeys: SigningKeys;
}

export function createAccessTokensService({ clock, policy, publicUrl, signingKeys }: Deps) {
  return {
    /** Signs a token for the viewer's live session (checked by the caller, like every authenticated call). */
    async issue({ user, session }: Viewer, input: { audience?: string | null } = {}): Promise<IssuedAccessToken> {
      const audience = input.audience == null ? publicUrl : checkAudience(input.audience);
      const { kid, privateKey } = await signingKeys.current();
      const iat = Math.floor(clock.now().getTime() / 1000);
      const exp = iat + Math.floor(policy.ttlMs / 1000);
      const token = await new SignJWT({
        sid: session.id,
        role: user.role,
        email: user.email,
        email_verified: user.emailVerified,
        amr: authenticationMethods(session.method, session.secondFactor ? amrOfSecondFactor[session.secondFactor] : []),
      })
        .setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' })
        .setIssuer(publicUrl)
        .setSubject(user.id)
        .setAudience(audience)
        .setIssuedAt(iat)
        .setExpirationTime(exp)
        .setJti(randomUUID())
        .sign(privateKey);
      return { token, expiresAt: new Date(exp * 1000) };
    },

    /** The body of GET /.well-known/jwks.json and how long it may be cached. */
    async jwks(): Promise<{ body: { keys: object[] }; maxAgeSeconds: number }> {
      return { body: { keys: await signingKeys.publicJwks() }, maxAgeSeconds: signingKeys.cacheSeconds };
    },

    /** The body of GET /.well-known/openid-configuration: where standard libraries find the keys. */
    discovery() {
      return {
        issuer: publicUrl,
        jwks_uri: `${publicUrl}${JWKS_PATH}`,
        id_token_signing_alg_values_supported: ['ES256'],
        claims_supported: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'sid', 'role', 'email', 'email_verified', 'amr'],
      };
    },
  };
}

export type AccessTokensService = ReturnType<typeof createAccessTokensService>;
