import { createRedisEventTarget } from '@graphql-yoga/redis-event-target';
import { createPubSub, map } from 'graphql-yoga';
import { Redis } from 'ioredis';
import type { Logger } from './logger.ts';

// Cross-instance events: Redis pub/sub through @graphql-yoga/redis-event-target when REDIS_URL is
// set (every instance hears every event), in process otherwise. Channels carry REDIS_PREFIX, so
// deployments sharing a Redis never hear each other. Payloads are JSON: dates travel as strings.

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
  close(): Promise<void>;
}

export function createEvents({ redisUrl, prefix, log }: { redisUrl?: string; prefix: string; log: Logger }): Events {
  const clients = redisUrl
    ? [new Redis(redisUrl, { maxRetriesPerRequest: null }), new Redis(redisUrl, { maxRetriesPerRequest: null })]
    : [];
  for (const client of clients) client.on('error', (err) => log.warn({ err: { message: err.message } }, 'events: redis error'));
  const eventTarget = clients.length
    ? createRedisEventTarget({ publishClient: clients[0]!, subscribeClient: clients[1]! })
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
    async close() {
      await Promise.all(clients.map((c) => c.quit().catch(() => c.disconnect())));
    },
  };
}
