import type { ClientIpResolver } from '../platform/client-ip.ts';
import type { Logger } from '../platform/logger.ts';
import type { OAuthService } from '../modules/auth/strategies/oauth/oauth.service.ts';
import { routePlugin, type Answer, type ServerPlugin } from './route.ts';

// GET /oauth/callback, the redirect URI registered at every provider. Always answers with a 302:
// to redirectTo with oauth_code or oauth_error, or to FRONTEND_URL when the attempt is unknown.

const OAUTH_CALLBACK_PATH = '/oauth/callback';

const methodNotAllowed: Answer = { status: 405, headers: { allow: 'GET', 'content-type': 'text/plain; charset=utf-8' }, body: 'Method Not Allowed' };

export function useOAuthCallback(log: Logger, oauth: OAuthService, clientIp: ClientIpResolver): ServerPlugin {
  return routePlugin(log, ({ request, url, req }) => {
    if (url.pathname !== OAUTH_CALLBACK_PATH) return undefined;
    if (request.method !== 'GET') return methodNotAllowed;
    const client = {
      ipAddress: clientIp(req.socket.remoteAddress, request.headers.get('x-forwarded-for')),
      userAgent: request.headers.get('user-agent'),
    };
    return oauth.callback(url.searchParams, client).then((location) => ({
      status: 302,
      // The callback URL held the provider's code and the target holds ours: neither may leak in a Referer.
      headers: { location, 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' },
    }));
  });
}
