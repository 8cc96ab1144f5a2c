import { Counter, Registry, collectDefaultMetrics } from 'prom-client';

// One registry per app instance (tests run several in one process). Counters named in API.md and
// the issues live here so every module increments the same objects.
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'portcullis_process_' });
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) =>
    new Counter<L>({ name, help, labelNames, registers: [registry] });
  return {
    registry,
    logins: counter('portcullis_logins_total', 'Sign-in attempts by method and result', ['method', 'result']),
    rateLimited: counter('portcullis_rate_limited_total', 'Operations refused by a rate limit', ['operation']),
    accountLockouts: counter('portcullis_account_lockouts_total', 'Accounts locked after repeated failed logins'),
    rateLimitFallbacks: counter(
      'portcullis_rate_limit_fallback_total',
      'Rate-limit checks counted in process because Redis did not answer',
    ),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
