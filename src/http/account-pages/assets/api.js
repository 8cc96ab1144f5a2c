// The pages' client of the public GraphQL API (POST /graphql), and where the session is kept.
// Bearer mode (default): the token lives in this tab's sessionStorage, gone when the tab closes.
// Cookie mode (SESSION_COOKIE=true): the token stays in the HttpOnly cookie; scripts never hold it.

export const settings = JSON.parse(document.querySelector('meta[name="portcullis-settings"]').content);

const TOKEN_KEY = 'portcullis.session';
const RETURN_KEY = 'portcullis.returnTo';
const cookieMode = settings.sessionMode === 'cookie';

export const session = {
  token: () => (cookieMode ? null : sessionStorage.getItem(TOKEN_KEY)),
  /** Whether this tab may be signed in: in cookie mode only the API can tell (ask `me`). */
  maybeSignedIn: () => cookieMode || sessionStorage.getItem(TOKEN_KEY) !== null,
  save(token) {
    if (!cookieMode) sessionStorage.setItem(TOKEN_KEY, token);
  },
  clear() {
    sessionStorage.removeItem(TOKEN_KEY);
  },
};

export class ApiError extends Error {
  constructor(code, message, retryAfter) {
    super(message);
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

export async function graphql(query, variables = {}) {
  // The CSRF header is what a cookie-authenticated request needs (a plain form cannot send it).
  const headers = { 'content-type': 'application/json', 'x-portcullis-csrf': '1' };
  const token = session.token();
  if (token) headers.authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch('/graphql', { method: 'POST', headers, body: JSON.stringify({ query, variables }), credentials: 'same-origin' });
  } catch {
    throw new ApiError('NETWORK', 'The service cannot be reached. Check your connection and try again.');
  }
  const body = await response.json().catch(() => ({}));
  const error = body.errors?.[0];
  if (error) throw new ApiError(error.extensions?.code ?? 'INTERNAL_SERVER_ERROR', error.message, error.extensions?.retryAfter);
  if (!body.data) throw new ApiError('INTERNAL_SERVER_ERROR', 'Unexpected answer from the service.');
  return body.data;
}

/** The fields every sign-in asks for; the second-factor flag only when the API has that step. */
export const AUTH_PAYLOAD = `token user { id email } session { id }${settings.secondFactor ? ' secondFactorRequired' : ''}`;

/** Where a page that needed a session (a verification link) wants the user back after sign-in. */
export function rememberReturn(path) {
  sessionStorage.setItem(RETURN_KEY, path);
}

function takeReturn() {
  const path = sessionStorage.getItem(RETURN_KEY);
  sessionStorage.removeItem(RETURN_KEY);
  // Only a path of this site: never an open redirect.
  return path?.startsWith('/') && !path.startsWith('//') ? path : null;
}

/** After any sign-in: keep the session, then the second-factor step, the page that asked, or the account. */
export function finishSignIn(payload) {
  session.save(payload.token);
  if (payload.secondFactorRequired) return location.assign('/auth/second-factor');
  location.assign(takeReturn() ?? '/account');
}

let leaving = false;

/** Ends this tab's session locally and shows the sign-in page with the reason (once: the event and the socket's close both say so). */
export function signedOut(reason) {
  session.clear();
  if (leaving) return;
  leaving = true;
  location.replace(`/auth/sign-in?signed_out=${encodeURIComponent(reason)}`);
}
