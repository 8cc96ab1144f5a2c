import { createHash } from 'node:crypto';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Logger } from '../../platform/logger.ts';
import type { Redis } from '../../platform/redis.ts';
import { type RateLimitRule, windowSeconds } from '../../kernel/rate-limit-rules.ts';

// Atomic counters over rate-limiter-flexible: Redis (shared by every instance) when configured,
// process memory otherwise. When Redis stops answering, the same limits are counted in process
// (fail closed: never unlimited guessing), logged once, and Redis is used again once it answers.

export type ConsumeResult = { allowed: true } | { allowed: false; retryAfter: number };

export interface RateLimiter {
  /** Counts one attempt of `bucket` under `rule` for the key parts; atomic across instances. */
  consume(bucket: string, rule: RateLimitRule, keyParts: string[]): Promise<ConsumeResult>;
}

interface Deps {
  redis?: Redis;
  log: Logger;
  onFallback?: () => void;
}

const FIRST_CONNECTION_MS = 1500;

export function createRateLimiter({ redis, log, onFallback }: Deps): RateLimiter {
  const memory = new Map<string, RateLimiterAbstract>();
  const shared = new Map<string, RateLimiterAbstract>();
  let degraded = false;
  // Without an offline queue every command fails while the client is still making its first
  // connection, so the first requests after start would be counted in process and "Redis
  // unavailable" logged on every start: until Redis has answered once, wait for it (bounded).
  let connectedOnce = redis?.status === 'ready';
  redis?.once('ready', () => (connectedOnce = true));
  let firstConnection: Promise<void> | undefined;
  const awaitFirstConnection = (r: Redis) =>
    (firstConnection ??= new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        r.off('ready', done);
        resolve();
      };
      const timer = setTimeout(done, FIRST_CONNECTION_MS);
      timer.unref();
      r.once('ready', done);
    }));

  const limiterFor = (pool: Map<string, RateLimiterAbstract>, bucket: string, rule: RateLimitRule, useRedis: boolean) => {
    const id = `${bucket}:${rule.limit}/${rule.window}:${rule.by.join('+')}`;
    let limiter = pool.get(id);
    if (!limiter) {
      const options = { keyPrefix: `rl:${id}`, points: rule.limit, duration: windowSeconds(rule.window) };
      limiter = useRedis && redis ? new RateLimiterRedis({ ...options, storeClient: redis, rejectIfRedisNotReady: true }) : new RateLimiterMemory(options);
      pool.set(id, limiter);
    }
    return limiter;
  };

  async function run<T>(bucket: string, rule: RateLimitRule, action: (l: RateLimiterAbstract) => Promise<T>): Promise<T> {
    if (!redis) return action(limiterFor(memory, bucket, rule, false));
    if (!connectedOnce && redis.status !== 'ready') await awaitFirstConnection(redis);
    const recovered = () => {
      if (!degraded) return;
      degraded = false;
      log.info('rate limits: Redis answers again; counting there');
    };
    try {
      const result = await action(limiterFor(shared, bucket, rule, true));
      recovered();
      return result;
    } catch (err) {
      if (err instanceof RateLimiterRes) {
        recovered();
        throw err;
      }
      if (!degraded) {
        degraded = true;
        log.error({ err: { message: (err as Error).message } }, 'rate limits: Redis unavailable; counting in process');
      }
      onFallback?.();
      return action(limiterFor(memory, bucket, rule, false));
    }
  }

  return {
    async consume(bucket, rule, keyParts) {
      try {
        await run(bucket, rule, (l) => l.consume(keyOf(keyParts)));
        return { allowed: true };
      } catch (err) {
        if (err instanceof RateLimiterRes) return { allowed: false, retryAfter: Math.max(1, Math.ceil(err.msBeforeNext / 1000)) };
        throw err;
      }
    },
  };
}

/** Key parts (IPs, emails, ids) are hashed, so Redis never holds an email in clear. */
function keyOf(parts: string[]): string {
  return createHash('sha256').update(parts.join('\u0000')).digest('base64url').slice(0, 32);
}
