import type { Logger } from '../platform/logger.ts';
import { jsonAnswer, routePlugin, type ServerPlugin } from './route.ts';

// GET /health (liveness) and GET /ready (every dependency answers within 2 s).

export const HEALTH_PATH = '/health';
export const READY_PATH = '/ready';
const CHECK_TIMEOUT_MS = 2000;

/** Each check throws when its dependency does not answer. */
export type ReadinessChecks = Record<string, () => Promise<void>>;

export function useReadiness(log: Logger, checks: ReadinessChecks): ServerPlugin {
  return routePlugin(log, ({ request, url }) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') return undefined;
    if (url.pathname === HEALTH_PATH) return jsonAnswer(200, { status: 'ok' });
    if (url.pathname === READY_PATH) return readiness(checks);
    return undefined;
  });
}

async function readiness(checks: ReadinessChecks) {
  const results = await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      const ok = await withTimeout(check(), CHECK_TIMEOUT_MS).then(
        () => true,
        () => false,
      );
      return [name, ok ? 'ok' : 'down'] as const;
    }),
  );
  const ready = results.every(([, state]) => state === 'ok');
  return jsonAnswer(ready ? 200 : 503, { status: ready ? 'ok' : 'unavailable', checks: Object.fromEntries(results) });
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timeout')), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
