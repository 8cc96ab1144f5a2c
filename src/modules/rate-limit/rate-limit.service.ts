import { sharedErrors } from '../../kernel/errors.ts';
import { ipRateLimitKey } from '../../platform/client-ip.ts';
import type { Metrics } from '../../platform/metrics.ts';
import type { RateLimitRule } from '../../kernel/rate-limit-rules.ts';
import type { RateLimiter } from './rate-limiter.ts';

export interface RateLimitSubject {
  ip: string | null;
  email?: string | null;
  userId?: string | null;
}

export interface Refusal {
  rule: RateLimitRule;
  retryAfter: number;
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
      // IPv6 counts per /64: one client can take any address of it.
      if (key === 'IP') return `ip:${subject.ip ? ipRateLimitKey(subject.ip) : 'unknown'}`;
      if (key === 'EMAIL') return `email:${(subject.email ?? '').trim().toLowerCase()}`;
      return `user:${subject.userId ?? 'anonymous'}`;
    });

  return {
    rulesFor: (operation: string, defaults: RateLimitRule[]) => overrides[operation] ?? defaults,

    /**
     * Counts one attempt of `operation` under each rule, in order, and stops at the first rule
     * that is exhausted: it is returned, so the caller decides how to refuse (most throw
     * RATE_LIMITED; mail requests answer as usual and send nothing, to reveal no address).
     */
    async check(operation: string, defaults: RateLimitRule[], subject: RateLimitSubject): Promise<Refusal | null> {
      for (const rule of overrides[operation] ?? defaults) {
        const result = await limiter.consume(operation, rule, keyPart(rule, subject));
        if (!result.allowed) {
          metrics.rateLimited.inc({ operation });
          return { rule, retryAfter: result.retryAfter };
        }
      }
      return null;
    },

    async enforce(operation: string, defaults: RateLimitRule[], subject: RateLimitSubject): Promise<void> {
      const refusal = await this.check(operation, defaults, subject);
      if (refusal) throw sharedErrors.tooManyAttempts(refusal.retryAfter);
    },
  };
}

export type RateLimitService = ReturnType<typeof createRateLimitService>;
