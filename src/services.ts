import type { Config } from './config.ts';
import { createPasswordHasher } from './modules/password/password-hasher.ts';
import { createPasswordService } from './modules/password/password.service.ts';
import { createRateLimitService } from './modules/rate-limit/rate-limit.service.ts';
import { createRateLimiter } from './modules/rate-limit/rate-limiter.ts';
import { createSessionsService, type SessionRevocation } from './modules/sessions/sessions.service.ts';
import { createUsersService } from './modules/users/users.service.ts';
import type { Clock } from './platform/clock.ts';
import type { Db } from './platform/db.ts';
import type { Logger } from './platform/logger.ts';
import type { Metrics } from './platform/metrics.ts';
import type { Redis } from './platform/redis.ts';

export interface ServiceDeps {
  db: Db;
  clock: Clock;
  config: Config;
  log: Logger;
  metrics: Metrics;
  /** Shared counters across instances; without it, limits are counted in process. */
  redis?: Redis;
  onSessionsRevoked?: (revocations: SessionRevocation[]) => void;
}

/** Wires the feature services together; none of them knows GraphQL. */
export function createServices({ db, clock, config, log, metrics, redis, onSessionsRevoked }: ServiceDeps) {
  const hasher = createPasswordHasher(config.password);
  const sessions = createSessionsService({ db, clock, policy: config.session, onRevoked: onSessionsRevoked });
  const users = createUsersService({ db, clock, config, hasher, sessions });
  const password = createPasswordService({ db, clock, config, hasher, sessions, metrics, log });
  const limiter = createRateLimiter({ redis, log, onFallback: () => metrics.rateLimitFallbacks.inc() });
  const rateLimits = createRateLimitService({ limiter, overrides: config.rateLimits, metrics });
  return { hasher, sessions, users, password, rateLimits };
}

export type Services = ReturnType<typeof createServices>;
