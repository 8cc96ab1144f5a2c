import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';

export interface MetricsAccess {
  registry: Registry;
  /** METRICS_TOKEN: when set, a scrape must bring it as a bearer token. */
  token?: string;
  production: boolean;
}

/**
 * GET /metrics (API.md): with METRICS_TOKEN set, only for `Authorization: Bearer <token>` (401
 * otherwise); without it, open outside production and absent (404) in production. Returns false
 * when the route is not this one.
 */
export async function serveMetrics(req: IncomingMessage, res: ServerResponse, path: string, access: MetricsAccess): Promise<boolean> {
  if (path !== '/metrics' || req.method !== 'GET') return false;
  if (!access.token && access.production) {
    res.writeHead(404).end();
    return true;
  }
  if (access.token && !bearerMatches(req.headers.authorization, access.token)) {
    res.writeHead(401, { 'www-authenticate': 'Bearer', 'cache-control': 'no-store' }).end();
    return true;
  }
  const text = await access.registry.metrics();
  res.writeHead(200, { 'content-type': access.registry.contentType, 'cache-control': 'no-store' });
  res.end(text);
  return true;
}

/** Compares digests of equal length, so the time taken says nothing about the token. */
function bearerMatches(header: string | undefined, token: string): boolean {
  const presented = /^Bearer +(\S+) *$/i.exec(header ?? '')?.[1];
  if (!presented) return false;
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(presented), digest(token));
}
