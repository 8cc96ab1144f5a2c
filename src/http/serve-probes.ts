import type { IncomingMessage, ServerResponse } from 'node:http';
import { json } from './json-answer.ts';

// GET /health (liveness) and GET /ready (every dependency answers within 2 s).

export interface Probes {
  /** Each throws when its dependency does not answer. */
  checks: Record<string, () => Promise<void>>;
}

/** Liveness and readiness; returns false when the route is not one of them. */
export async function serveProbe(req: IncomingMessage, res: ServerResponse, path: string, probes: Probes): Promise<boolean> {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  if (path === '/health') {
    json(res, 200, { status: 'ok' });
    return true;
  }
  if (path === '/ready') {
    const results = await Promise.all(
      Object.entries(probes.checks).map(async ([name, check]) => {
        const ok = await withTimeout(check(), 2000).then(
          () => true,
          () => false,
        );
        return [name, ok ? 'ok' : 'down'] as const;
      }),
    );
    const ready = results.every(([, state]) => state === 'ok');
    json(res, ready ? 200 : 503, { status: ready ? 'ok' : 'unavailable', checks: Object.fromEntries(results) });
    return true;
  }
  return false;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timeout')), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
