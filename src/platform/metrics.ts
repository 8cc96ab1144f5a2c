import { Counter, Registry, collectDefaultMetrics } from 'prom-client';

// One registry per app instance (tests run several in one process). Counters named in API.md and
// the issues live here so every module increments the same objects.
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'portcullis_process_' });
  const logins = new Counter({
    name: 'portcullis_logins_total',
    help: 'Sign-in attempts by method and result',
    labelNames: ['method', 'result'] as const,
    registers: [registry],
  });
  return { registry, logins };
}

export type Metrics = ReturnType<typeof createMetrics>;
