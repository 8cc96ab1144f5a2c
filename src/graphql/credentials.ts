import { transportErrors } from './transports/transport-errors.ts';
import type { SessionsService, Viewer } from '../modules/sessions/sessions.service.ts';

export const SESSION_COOKIE_NAME = 'portcullis_session';
/** Cookie-authenticated requests other than GET must carry this header (a simple form cannot). */
export const CSRF_HEADER = 'x-portcullis-csrf';

export interface CredentialSource {
  authorization: string | null;
  cookie: string | null;
  method: string;
  csrfHeader: string | null;
}

/**
 * Resolves the viewer of a request. A Bearer token that is malformed, unknown, revoked or expired
 * fails the whole operation with UNAUTHENTICATED, so a client learns at once that its token is
 * dead. A dead cookie is ignored (and cleared by the caller), so a browser can still sign in again.
 */
export async function resolveViewer(
  source: CredentialSource,
  sessions: SessionsService,
  cookieMode: boolean,
): Promise<{ viewer: Viewer | null; staleCookie: boolean }> {
  if (source.authorization !== null) {
    const match = /^Bearer ([A-Za-z0-9_-]{16,128})$/.exec(source.authorization.trim());
    const viewer = match ? await sessions.authenticate(match[1]!) : null;
    if (!viewer) throw transportErrors.deadBearerToken();
    return { viewer, staleCookie: false };
  }
  const token = cookieMode ? readCookie(source.cookie, SESSION_COOKIE_NAME) : null;
  if (!token) return { viewer: null, staleCookie: false };
  if (source.method !== 'GET' && !source.csrfHeader) {
    throw transportErrors.csrfHeaderMissing(CSRF_HEADER);
  }
  const viewer = await sessions.authenticate(token);
  return { viewer, staleCookie: !viewer };
}

export function readCookie(header: string | null, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeCookieValue(part.slice(eq + 1).trim());
  }
  return null;
}

/** A value that is not valid percent-encoding is kept as is: it then matches no session (not a 500). */
function decodeCookieValue(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

export function sessionCookie(token: string | null, expiresAt?: Date): string {
  const base = `${SESSION_COOKIE_NAME}=${token ?? ''}; Path=/; HttpOnly; Secure; SameSite=Lax`;
  return token && expiresAt ? `${base}; Expires=${expiresAt.toUTCString()}` : `${base}; Max-Age=0`;
}
