import type { Logger } from '../platform/logger.ts';
import { DISCOVERY_PATH, JWKS_PATH, type AccessTokensService } from '../modules/access-tokens/access-tokens.service.ts';
import { routePlugin, type ServerPlugin } from './route.ts';

// GET /.well-known/jwks.json and /.well-known/openid-configuration: public documents that any
// origin may read, cached by resource servers and gateways for less than a key rotation's overlap.

const DISCOVERY_MAX_AGE_SECONDS = 3600;

export function useJwks(log: Logger, accessTokens: AccessTokensService): ServerPlugin {
  return routePlugin(log, ({ request, url }) => {
    const path = url.pathname;
    if (path !== JWKS_PATH && path !== DISCOVERY_PATH) return undefined;
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return { status: 405, headers: { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }, body: 'Method Not Allowed' };
    }
    const document = async () => (path === JWKS_PATH ? accessTokens.jwks() : { body: accessTokens.discovery(), maxAgeSeconds: DISCOVERY_MAX_AGE_SECONDS });
    return document().then(({ body, maxAgeSeconds }) => ({
      status: 200,
      headers: {
        'content-type': 'application/json; charset=utf-8',
        'cache-control': `public, max-age=${maxAgeSeconds}`,
        'access-control-allow-origin': '*',
      },
      body: request.method === 'HEAD' ? null : JSON.stringify(body),
    }));
  });
}
