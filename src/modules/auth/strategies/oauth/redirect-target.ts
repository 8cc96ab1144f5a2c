import { oauthErrors } from './oauth-errors.ts';

// Where the callback may send the browser (API.md "redirectTo"): the origin of FRONTEND_URL or of
// an ALLOWED_REDIRECTS entry, exactly, and a path under that URL's path. Anything else would make
// the callback an open redirect that hands out sign-in codes.

const MAX_LENGTH = 2048;

/** `/app` covers `/app`, `/app/` and `/app/x`, not `/application`. */
function pathWithin(path: string, base: string): boolean {
  if (base === '' || base === '/' || path === base) return true;
  return path.startsWith(base.endsWith('/') ? base : `${base}/`);
}

/** The parsed target, or BAD_USER_INPUT. `allowed` holds FRONTEND_URL and the ALLOWED_REDIRECTS entries. */
export function checkRedirectTo(raw: string, allowed: readonly string[]): URL {
  const refuse = oauthErrors.redirectNotAllowed;
  if (raw.length > MAX_LENGTH) throw refuse();
  let target: URL;
  try {
    // No base URL: "//evil.example" and "/path" do not parse, so they are refused too.
    target = new URL(raw);
  } catch {
    throw refuse();
  }
  if ((target.protocol !== 'https:' && target.protocol !== 'http:') || target.username || target.password) throw refuse();
  for (const entry of allowed) {
    const base = new URL(entry);
    if (target.origin === base.origin && pathWithin(target.pathname, base.pathname)) return target;
  }
  throw refuse();
}

/** `url` with `key=value` in its query, its other parameters kept; earlier oauth_* parameters are dropped. */
export function withOAuthParam(url: string, key: 'oauth_code' | 'oauth_error', value: string): string {
  const target = new URL(url);
  target.searchParams.delete('oauth_code');
  target.searchParams.delete('oauth_error');
  target.searchParams.set(key, value);
  return target.href;
}
