import { AppError } from '../../errors.ts';
import type { Metrics } from '../../platform/metrics.ts';
import type { RateLimitRule } from './rate-limit-rules.ts';
import type { RateLimiter } from './rate-limiter.ts';

export interface RateLimitSubject {
  ip: string | null;
  email?: string | null;
  userId?: string | null;
}

interface Deps {
  limiter: RateLimiter;
  /** Per-operation rules from RATE_LIMITS; they replace the defaults declared on the field. */
  overrides: Readonly<Record<string, RateLimitRule[]>>;
  metrics: Metrics;
}

export function createRateLimitService({ limiter, overrides, metrics }: Deps) {
  const keyPart = (rule: RateLimitRule, subject: RateLimitSubject) =>
    rule.by.map((key) => {
      if (key === 'IP') return `ip:${subject.ip ?? 'unknown'}`;
      if (key === 'EMAIL') return `email:${(subject.email ?? '').trim().toLowerCase()}`;
      return `user:${subject.userId ?? 'anonymous'}`;
    });

  return {
    rulesFor: (operation: string, defaults: RateLimitRule[]) => overrides[operation] ?? defaults,

    /** Counts one attempt of `operation` under each rule; the first exhausted rule refuses it. */
    async enforce(operation: string, defaults: RateLimitRule[], subject: RateLimitSubject): Promise<void> {
      for (const rule of overrides[operation] ?? defaults) {
        const result = await limiter.consume(operation, rule, keyPart(rule, subject));
        if (!result.allowed) {
          metrics.rateLimited.inc({ operation });
          throw new AppError('RATE_LIMITED', 'Too many attempts; try again later', { retryAfter: result.retryAfter });
        }
      }
    },

    /** Like `enforce`, but answers instead of throwing: for operations that must not reveal a limit. */
    async allows(operation: string, rules: RateLimitRule[], subject: RateLimitSubject): Promise<boolean> {
      for (const rule of overrides[operation] ?? rules) {
        if (!(await limiter.consume(operation, rule, keyPart(rule, subject))).allowed) {
          metrics.rateLimited.inc({ operation });
          return false;
        }
      }
      return true;
    },
  };
}

export type RateLimitService = ReturnType<typeof createRateLimitService>;
