import { Redis } from 'ioredis';

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
