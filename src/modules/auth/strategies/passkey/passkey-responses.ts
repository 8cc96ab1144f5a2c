import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import { passkeyErrors } from './passkey-errors.ts';

// What the browser hands back (the JSON of a PublicKeyCredential), read defensively: a text that
// is not such JSON is bad input; everything inside it is checked by the WebAuthn verification.

/** Far above any real response (a few KB even with attestation certificates). */
const RESPONSE_MAX = 64 * 1024;

/** COSE algorithms accepted: ES256, EdDSA, RS256 (what authenticators actually use). */
export const SUPPORTED_ALGORITHMS = [-7, -8, -257];

function parseCredential(text: string): Record<string, unknown> & { id: string; response: Record<string, unknown> } {
  if (text.length > RESPONSE_MAX) throw passkeyErrors.responseTooLong();
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw passkeyErrors.notACredential();
  }
  const credential = value as { id?: unknown; response?: unknown } | null;
  if (
    typeof credential !== 'object' ||
    credential === null ||
    typeof credential.id !== 'string' ||
    !credential.id ||
    typeof credential.response !== 'object' ||
    credential.response === null
  ) {
    throw passkeyErrors.notACredential();
  }
  return credential as ReturnType<typeof parseCredential>;
}

export const parseRegistrationResponse = (text: string) => parseCredential(text) as unknown as RegistrationResponseJSON;
export const parseAuthenticationResponse = (text: string) => parseCredential(text) as unknown as AuthenticationResponseJSON;

/** The WebAuthn user handle of an account: the 16 bytes of its UUID (never the email). */
export const userHandleOf = (userId: string): Uint8Array<ArrayBuffer> => new Uint8Array(Buffer.from(userId.replace(/-/g, ''), 'hex'));

/** The same handle as it comes back in an assertion (base64url). */
export const encodedUserHandleOf = (userId: string): string => Buffer.from(userHandleOf(userId)).toString('base64url');
