import { createHash, timingSafeEqual } from 'node:crypto';
import type { Registry } from 'prom-client';
import type { Logger } from '../platform/logger.ts';
import { routePlugin, type ServerPlugin } from './route.ts';

export interface MetricsAccess {
  registry: Registry;
  /** METRICS_TOKEN: when set, a scrape must bring it as a bearer token. */
  token?: string;
  production: boolean;
}

/**
 * GET /metrics (API.md): with METRICS_TOKEN set, only for `Authorization: Bearer <token>` (401
 * otherwise); without it, open outside production and absent (404) in production.
 */
export function useMetricsAccess(log: Logger, access: MetricsAccess): ServerPlugin {
  return routePlugin(log, ({ request, url }) => {
    if (url.pathname !== '/metrics' || request.method !== 'GET') return undefined;
    if (!access.token && access.production) return { status: 404 };
    if (access.token && !bearerMatches(request.headers.get('authorization'), access.token)) {
      return { status: 401, headers: { 'www-authenticate': 'Bearer', 'cache-control': 'no-store' } };
    }
    return access.registry.metrics().then((body) => ({
      status: 200,
      headers: { 'content-type': access.registry.contentType, 'cache-control': 'no-store' },
      body,
    }));
  });
}

/** Compares digests of equal length, so the time taken says nothing about the token. */
function bearerMatches(header: string | null, token: string): boolean {
  const presented = /^Bearer +(\S+) *$/i.exec(header ?? '')?.[1];
  if (!presented) return false;
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(presented), digest(token));
}
