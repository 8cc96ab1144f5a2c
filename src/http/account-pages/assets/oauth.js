import { AUTH_PAYLOAD, finishSignIn, graphql } from './api.js';

// OAuth as API.md describes it for any frontend: a random codeVerifier kept in this tab, its S256
// challenge given to startOAuth; back on /auth/oauth with ?oauth_code, completeOAuth with the verifier.

const VERIFIER_KEY = 'portcullis.oauth.codeVerifier';
const base64url = (bytes) =>
  btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');

export async function startOAuth(provider) {
  const codeVerifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const codeChallenge = base64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(codeVerifier)));
  sessionStorage.setItem(VERIFIER_KEY, codeVerifier);
  const input = { provider, redirectTo: `${location.origin}/auth/oauth`, codeChallenge };
  const { startOAuth: start } = await graphql('mutation($input: StartOAuthInput!) { startOAuth(input: $input) { authorizationUrl } }', { input });
  location.assign(start.authorizationUrl);
}

export async function completeOAuth(code) {
  const codeVerifier = sessionStorage.getItem(VERIFIER_KEY) ?? '';
  sessionStorage.removeItem(VERIFIER_KEY);
  const { completeOAuth: payload } = await graphql(`mutation($input: CompleteOAuthInput!) { completeOAuth(input: $input) { ${AUTH_PAYLOAD} } }`, {
    input: { code, codeVerifier },
  });
  finishSignIn(payload);
}
