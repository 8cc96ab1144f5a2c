import { AUTH_PAYLOAD, ApiError, finishSignIn, graphql } from './api.js';

// Passkey sign-in (startPasskeySignIn -> navigator.credentials.get -> loginWithPasskey), with the
// browser's own JSON helpers for WebAuthn. The button shows only when the API has these fields.

export async function signInWithPasskey(email) {
  if (!window.PublicKeyCredential?.parseRequestOptionsFromJSON) {
    throw new ApiError('UNSUPPORTED', 'This browser cannot sign in with a passkey here. Use another way.');
  }
  const { startPasskeySignIn: challenge } = await graphql(
    'mutation($input: StartPasskeySignInInput) { startPasskeySignIn(input: $input) { challengeId options } }',
    { input: email ? { email } : {} },
  );
  const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(JSON.parse(challenge.options));
  const credential = await navigator.credentials.get({ publicKey }).catch(() => null);
  if (!credential) throw new ApiError('CANCELLED', 'No passkey was used. Try again or use another way.');
  const { loginWithPasskey } = await graphql(`mutation($input: LoginWithPasskeyInput!) { loginWithPasskey(input: $input) { ${AUTH_PAYLOAD} } }`, {
    input: { challengeId: challenge.challengeId, response: JSON.stringify(credential.toJSON()) },
  });
  finishSignIn(loginWithPasskey);
}
