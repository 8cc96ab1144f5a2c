import { createRedisEventTarget } from '@graphql-yoga/redis-event-target';
import { createPubSub, map } from 'graphql-yoga';
import { Redis } from 'ioredis';
import type { Logger } from './logger.ts';
import { createRedisWarning } from './redis.ts';

// Cross-instance events: Redis pub/sub through @graphql-yoga/redis-event-target when REDIS_URL is
// set (every instance hears every event), in process otherwise. Channels carry REDIS_PREFIX, so
// deployments sharing a Redis never hear each other. Payloads are JSON: dates travel as strings.
// While Redis is away, events published meanwhile are lost beyond a bounded backlog; when the
// subscriber is back, `onReconnected` listeners re-check what they watch against the database.

/** Publishes held while Redis is away; past these, new ones are dropped (the re-check covers them). */
export const MAX_PENDING_PUBLISHES = 1000;
/** Reconnect attempts come at most this far apart, so a returning Redis is heard within a second. */
const MAX_RECONNECT_DELAY_MS = 500;

/**
 * A kind of event carried between instances, declared by the module that owns it: its name, and
 * how a value travels as JSON (dates as strings, say).
 */
export interface Channel<T> {
  name: string;
  encode(value: T): unknown;
  decode(wire: unknown): T;
}

export interface Events {
  /** To every subscriber of `channel` (of `key`, when given) on every instance. */
  publish<T>(channel: Channel<T>, value: T, key?: string): void;
  /**
   * The events of `channel` (of `key`, when given) from every instance, until the iterator is
   * returned. Returning takes effect at once (a Repeater, not a generator), so a closed subscriber
   * drops its listener and Redis channel immediately rather than at the next event.
   */
  subscribe<T>(channel: Channel<T>, key?: string): AsyncIterableIterator<T>;
  /** Runs `listener` each time the subscriber connects again after losing Redis; returns an unsubscribe. */
  onReconnected(listener: () => void): () => void;
  close(): Promise<void>;
}

export function createEvents({
  redisUrl,
  prefix,
  log,
  onRedisError,
}: {
  redisUrl?: string;
  prefix: string;
  log: Logger;
  onRedisError?: (err: Error) => void;
}): Events {
  const options = { maxRetriesPerRequest: null, retryStrategy: (attempt: number) => Math.min(attempt * 100, MAX_RECONNECT_DELAY_MS) };
  const clients = redisUrl ? [new Redis(redisUrl, options), new Redis(redisUrl, options)] : [];
  const warn = onRedisError ?? createRedisWarning(log);
  for (const client of clients) client.on('error', warn);
  const reconnected = new Set<() => void>();
  if (clients[1]) watchReconnects(clients[1], () => reconnected.forEach((listener) => listener()));
  const eventTarget = clients.length
    ? createRedisEventTarget({ publishClient: boundedPublisher(clients[0]!, log) as Redis, subscribeClient: clients[1]! })
    : undefined;
  // Topics with a key (one user's revocations) and without (the whole audit log) share one pubsub.
  const pubSub = createPubSub<Record<string, [unknown] | [string, unknown]>>({ eventTarget }) as unknown as {
    publish(topic: string, ...args: unknown[]): void;
    subscribe(topic: string, key?: string): AsyncIterableIterator<unknown>;
  };

  return {
    publish(channel, value, key) {
      const wire = channel.encode(value);
      if (key === undefined) pubSub.publish(prefix + channel.name, wire);
      else pubSub.publish(prefix + channel.name, key, wire);
    },
    subscribe<T>(channel: Channel<T>, key?: string) {
      return map((wire: unknown) => channel.decode(wire))(pubSub.subscribe(prefix + channel.name, key));
    },
    onReconnected(listener) {
      reconnected.add(listener);
      return () => reconnected.delete(listener);
    },
    async close() {
      // Without Redis, QUIT would wait in the offline queue for its return: drop the connection instead.
      await Promise.all(clients.map((c) => (c.status === 'ready' ? c.quit().catch(() => c.disconnect()) : c.disconnect())));
    },
  };
}

/** Calls `onBack` on every `ready` of `client` that follows a lost connection (not the first one). */
function watchReconnects(client: Redis, onBack: () => void): void {
  let lost = false;
  client.on('close', () => (lost = true));
  client.on('ready', () => {
    if (!lost) return;
    lost = false;
    onBack();
  });
}

/**
 * The publish side of the event target: at most MAX_PENDING_PUBLISHES wait for a Redis that is
 * away (ioredis would queue them without limit), and a failed publish is logged, never thrown.
 */
function boundedPublisher(client: Redis, log: Logger): Pick<Redis, 'publish'> {
  let pending = 0;
  let dropped = 0;
  return {
    publish(channel: string, message: string) {
      if (pending >= MAX_PENDING_PUBLISHES) {
        if (dropped++ % MAX_PENDING_PUBLISHES === 0) log.warn({ dropped }, 'events: redis away, event dropped');
        return Promise.resolve(0);
      }
      pending++;
      return client
        .publish(channel, message)
        .catch((err: Error) => {
          log.warn({ err: { message: err.message } }, 'events: publish failed');
          return 0;
        })
        .finally(() => pending--);
    },
  } as Pick<Redis, 'publish'>;
}
