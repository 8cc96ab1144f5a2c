import { Redis } from 'ioredis';

export type { Redis };

export function createRedis(url: string, prefix: string): Redis {
  return new Redis(url, {
    keyPrefix: prefix,
    lazyConnect: false,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    // Keep retrying in the background; callers see fast failures meanwhile.
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
  });
}

export async function pingRedis(redis: Redis): Promise<void> {
  await redis.ping();
}
