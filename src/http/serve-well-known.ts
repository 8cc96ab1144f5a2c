import type { IncomingMessage, ServerResponse } from 'node:http';
import { DISCOVERY_PATH, JWKS_PATH, type AccessTokensService } from '../modules/access-tokens/access-tokens.service.ts';

// GET /.well-known/jwks.json and /.well-known/openid-configuration: public documents that any
// origin may read, cached by resource servers and gateways for less than a key rotation's overlap.

/** Serves the two documents; returns false when the request is for another route. */
export async function serveWellKnown(req: IncomingMessage, res: ServerResponse, path: string, accessTokens: AccessTokensService): Promise<boolean> {
  if (path !== JWKS_PATH && path !== DISCOVERY_PATH) return false;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
    res.end('Method Not Allowed');
    return true;
  }
  const { body, maxAgeSeconds } = path === JWKS_PATH ? await accessTokens.jwks() : { body: accessTokens.discovery(), maxAgeSeconds: 3600 };
  res.writeHead(200, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': `public, max-age=${maxAgeSeconds}`,
    'access-control-allow-origin': '*',
  });
  res.end(req.method === 'HEAD' ? undefined : JSON.stringify(body));
  return true;
}
