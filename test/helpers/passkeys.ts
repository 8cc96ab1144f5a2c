import { relaxedRateLimits, type TestApp } from './app.ts';
import type { Bend, SoftwareAuthenticator } from './software-authenticator.ts';

// The passkey operations as a frontend calls them, and the environment of the passkey tests: the
// relying party is example.test, and the pages that call WebAuthn live at ORIGIN.

export const RP_ID = 'example.test';
export const ORIGIN = 'https://app.example.test';
/** The limits of the passkey fields are tested on their own (test/security/passkeys.test.ts). */
export const passkeyEnv = {
  WEBAUTHN_RP_ID: RP_ID,
  WEBAUTHN_ORIGINS: ORIGIN,
  RATE_LIMITS: `${relaxedRateLimits};startPasskeySignIn=10000/15m:IP;loginWithPasskey=10000/15m:IP`,
};

export const START_REGISTRATION = `mutation { startPasskeyRegistration { challengeId options } }`;
export const FINISH_REGISTRATION = `mutation($input: FinishPasskeyRegistrationInput!) {
  finishPasskeyRegistration(input: $input) { id name createdAt lastUsedAt }
}`;
export const MY_PASSKEYS = `{ myPasskeys { id name createdAt lastUsedAt } }`;
export const DELETE_PASSKEY = `mutation($id: ID!) { deletePasskey(id: $id) }`;
export const START_SIGN_IN = `mutation($email: String) { startPasskeySignIn(input: { email: $email }) { challengeId options } }`;
export const LOGIN_WITH_PASSKEY = `mutation($input: LoginWithPasskeyInput!) {
  loginWithPasskey(input: $input) { token user { id email } session { id method } }
}`;

function data<T>(r: { body: { data?: any; errors?: unknown } }, field: string): T {
  if (!r.body.data?.[field]) throw new Error(`${field} failed: ${JSON.stringify(r.body.errors)}`);
  return r.body.data[field];
}

/** Starts a registration for the user of `token`. */
export async function startRegistration(t: TestApp, token: string): Promise<{ challengeId: string; options: string }> {
  return data(await t.gql(START_REGISTRATION, undefined, { token }), 'startPasskeyRegistration');
}

/** A whole registration; returns the new passkey's id. */
export async function registerPasskey(t: TestApp, token: string, authenticator: SoftwareAuthenticator, name = 'Laptop'): Promise<string> {
  const { challengeId, options } = await startRegistration(t, token);
  const { response } = authenticator.register(options);
  return data<{ id: string }>(await t.gql(FINISH_REGISTRATION, { input: { challengeId, response, name } }, { token }), 'finishPasskeyRegistration').id;
}

/** Starts a sign-in, with an email or without. */
export async function startSignIn(t: TestApp, email?: string | null): Promise<{ challengeId: string; options: string }> {
  return data(await t.gql(START_SIGN_IN, { email }), 'startPasskeySignIn');
}

/** Presents an assertion of `authenticator` for a fresh sign-in challenge; returns the raw answer. */
export async function passkeyLogin(t: TestApp, authenticator: SoftwareAuthenticator, options: { email?: string; bend?: Bend } = {}) {
  const challenge = await startSignIn(t, options.email);
  const response = authenticator.assert(challenge.options, options.bend);
  return t.gql(LOGIN_WITH_PASSKEY, { input: { challengeId: challenge.challengeId, response } });
}

/** The rows a refused sign-in must leave as they were: sessions and every passkey's counter. */
export async function signInState(t: TestApp) {
  const [sessions, passkeys] = await Promise.all([
    t.db.query(`SELECT id, method FROM "Session" ORDER BY id`),
    t.db.query(`SELECT id, counter::text AS counter, "lastUsedAt" FROM "Passkey" ORDER BY id`),
  ]);
  return { sessions, passkeys };
}
