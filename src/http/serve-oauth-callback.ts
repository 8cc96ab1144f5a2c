import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ClientIpResolver } from '../platform/client-ip.ts';
import type { OAuthService } from '../modules/auth/strategies/oauth/oauth.service.ts';

// GET /oauth/callback, the redirect URI registered at every provider. Always answers with a 302:
// to redirectTo with oauth_code or oauth_error, or to FRONTEND_URL when the attempt is unknown.

export const OAUTH_CALLBACK_PATH = '/oauth/callback';

/** Serves the OAuth callback; returns false when the request is for another route. */
export async function serveOAuthCallback(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  oauth: OAuthService,
  clientIp: ClientIpResolver,
): Promise<boolean> {
  if (path !== OAUTH_CALLBACK_PATH) return false;
  if (req.method !== 'GET') {
    res.writeHead(405, { allow: 'GET', 'content-type': 'text/plain; charset=utf-8' });
    res.end('Method Not Allowed');
    return true;
  }
  const query = new URL(req.url ?? '/', 'http://callback.invalid').searchParams;
  const forwardedFor = req.headers['x-forwarded-for'];
  const location = await oauth.callback(query, {
    ipAddress: clientIp(req.socket.remoteAddress, Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor),
    userAgent: req.headers['user-agent'] ?? null,
  });
  res.writeHead(302, {
    location,
    'cache-control': 'no-store',
    // The callback URL held the provider's code and the target holds ours: neither may leak in a Referer.
    'referrer-policy': 'no-referrer',
  });
  res.end();
  return true;
}
