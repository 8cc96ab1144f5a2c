import { Redis } from 'ioredis';
import type { Logger } from './logger.ts';

export type { Redis };

const COMMAND_TIMEOUT_MS = 500;

export function createRedis(url: string, prefix: string): Redis {
  return new Redis(url, {
    keyPrefix: prefix,
    lazyConnect: false,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    // A Redis that stops answering without closing the connection (hung, paused, a black-holed
    // network) would otherwise hold every rate-limited request forever; callers fall back instead.
    commandTimeout: COMMAND_TIMEOUT_MS,
    // Keep retrying in the background; callers see fast failures meanwhile.
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
  });
}

/**
 * Commands fail at once while the client is (re)connecting (no offline queue), so a probe right
 * after start would report Redis down although it answers a few milliseconds later: wait up to
 * `connectMs` for the connection, then ping.
 */
export async function pingRedis(redis: Redis, connectMs = 1500): Promise<void> {
  if (redis.status !== 'ready') {
    await new Promise<void>((resolve, reject) => {
      const onReady = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        redis.off('ready', onReady);
        reject(new Error(`redis not connected (${redis.status})`));
      }, connectMs);
      redis.once('ready', onReady);
    });
  }
  await redis.ping();
}

/** Once a Redis error was logged, the next one waits this long (the count of those in between goes with it). */
export const REDIS_WARNING_INTERVAL_MS = 60_000;

/**
 * An 'error' listener for Redis clients that logs the first error at once and then at most one
 * line a minute, however many clients retry how often: an outage of hours stays a few lines.
 */
export function createRedisWarning(log: Logger, { intervalMs = REDIS_WARNING_INTERVAL_MS, now = Date.now } = {}): (err: Error) => void {
  let lastAt = 0;
  let suppressed = 0;
  let logged = false;
  return (err) => {
    const at = now();
    if (logged && at - lastAt < intervalMs) {
      suppressed++;
      return;
    }
    log.warn({ err: { message: err.message }, suppressed }, 'redis error (retrying in the background; next warning in a minute at most)');
    lastAt = at;
    logged = true;
    suppressed = 0;
  };
}
