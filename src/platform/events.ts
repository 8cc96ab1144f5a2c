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

export interface SessionRevokedEvent {
  sessionId: string;
  userId: string;
  reason: string;
  revokedAt: Date;
}

type Wire = Omit<SessionRevokedEvent, 'revokedAt'> & { revokedAt: string };

/** A committed audit log entry (the admin live feed). */
export interface AuditedEvent {
  id: string;
  type: string;
  userId: string | null;
  actorId: string | null;
  ipAddress: string | null;
  userAgent: string | null;
  data: string | null;
  createdAt: Date;
}

type AuditWire = Omit<AuditedEvent, 'createdAt'> & { createdAt: string };

export interface Events {
  publishSessionRevoked(event: SessionRevokedEvent): void;
  /**
   * The revocations of one user's sessions, from every instance, until the iterator is returned.
   * Returning takes effect at once (a Repeater, not a generator), so a closed subscriber drops its
   * listener and Redis channel immediately rather than at the user's next event.
   */
  sessionRevoked(userId: string): AsyncIterableIterator<SessionRevokedEvent>;
  publishAuditEvent(event: AuditedEvent): void;
  /** Every new audit event, from every instance; a Repeater too, released at once on return. */
  auditEvents(): AsyncIterableIterator<AuditedEvent>;
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
  const pubSub = createPubSub<Record<string, [string, Wire]>>({ eventTarget });
  const topic = `${prefix}session-revoked`;
  // One channel for the whole log: its only subscribers are admins' feeds.
  const auditPubSub = createPubSub<Record<string, [AuditWire]>>({ eventTarget });
  const auditTopic = `${prefix}audit`;

  return {
    publishSessionRevoked(event) {
      pubSub.publish(topic, event.userId, { ...event, revokedAt: event.revokedAt.toISOString() });
    },
    sessionRevoked(userId) {
      return map((wire: Wire) => ({ ...wire, revokedAt: new Date(wire.revokedAt) }))(pubSub.subscribe(topic, userId));
    },
    publishAuditEvent(event) {
      auditPubSub.publish(auditTopic, { ...event, createdAt: event.createdAt.toISOString() });
    },
    auditEvents() {
      return map((wire: AuditWire) => ({ ...wire, createdAt: new Date(wire.createdAt) }))(auditPubSub.subscribe(auditTopic));
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
