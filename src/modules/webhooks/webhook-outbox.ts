import type { Clock } from '../../platform/clock.ts';
import type { Tx } from '../../platform/db.ts';
import { uuid7 } from '../../platform/uuid7.ts';
import type { AuditRecord } from '../audit/audit.service.ts';
import type { Scope } from '../../kernel/unit-of-work.ts';

// The transactional outbox: an audited change becomes webhook deliveries in its own transaction,
// so a rolled-back change sends nothing and a committed one cannot be lost. The mapping from audit
// types to webhook events lives here, apart from the services that record them.

export const WEBHOOK_EVENTS = [
  'user.created',
  'user.updated',
  'user.deleted',
  'user.locked',
  'user.unlocked',
  'email.verified',
  'password.changed',
  'password.reset',
  'second_factor.enabled',
  'second_factor.disabled',
  'session.created',
  'session.revoked',
] as const;

/** Audit type -> the webhook events it announces. */
const EVENTS_OF_AUDIT: Record<string, ReadonlyArray<(typeof WEBHOOK_EVENTS)[number]>> = {
  // Registration by password opens the first session with the account (data.sessionId).
  'user.registered': ['user.created', 'session.created'],
  'admin.user.created': ['user.created'],
  'admin.user.updated': ['user.updated'],
  'admin.user.deleted': ['user.deleted'],
  'user.locked': ['user.locked'],
  'user.unlocked': ['user.unlocked'],
  'email.verified': ['email.verified'],
  'password.changed': ['password.changed'],
  'password.reset': ['password.reset'],
  'login.succeeded': ['session.created'],
  'session.revoked': ['session.revoked'],
  'second_factor.enabled': ['second_factor.enabled'],
  'second_factor.disabled': ['second_factor.disabled'],
  'admin.second_factor.reset': ['second_factor.disabled'],
};

export const parseEvents = (text: string): string[] => text.split(',').filter(Boolean);

interface Event {
  type: string;
  data: Record<string, unknown>;
}

/** The payloads `record` announces, read in its transaction: ids and public fields, never a secret. */
async function eventsOf(type: string, record: AuditRecord, tx: Tx): Promise<Event[]> {
  if (!record.userId) return [];
  const details = record.data ? (JSON.parse(record.data) as Record<string, unknown>) : {};
  if (type === 'session.created' || type === 'session.revoked') {
    const ids = Array.isArray(details.sessionIds) ? (details.sessionIds as string[]) : typeof details.sessionId === 'string' ? [details.sessionId] : [];
    if (!ids.length && record.type !== 'login.succeeded') return [];
    const sessions = await tx.session.findMany({
      where: ids.length ? { id: { in: ids } } : { userId: record.userId },
      select: { id: true, userId: true, method: true },
      orderBy: { createdAt: 'desc' },
      // A sign-in without the id in its audit data opened the user's newest session in this transaction.
      take: ids.length ? undefined : 1,
    });
    const reason = type === 'session.revoked' ? { reason: details.reason ?? null } : {};
    return sessions.map((session) => ({ type, data: { session: { ...session, ...reason } } }));
  }
  const user = await tx.user.findUnique({ where: { id: record.userId }, select: { id: true, email: true, role: true, emailVerified: true } });
  return user ? [{ type, data: { user } }] : [];
}

/**
 * The in-transaction subscriber of audit records: writes one PENDING delivery per enabled webhook
 * subscribed to the event, and sends them once the transaction has committed.
 */
export function createWebhookOutbox({ clock, send }: { clock: Clock; send: (deliveryIds: string[]) => void }) {
  return async (record: AuditRecord, { tx, uow }: Scope): Promise<void> => {
    const types = EVENTS_OF_AUDIT[record.type];
    if (!types) return;
    const hooks = (await tx.webhook.findMany({ where: { enabled: true }, select: { id: true, events: true } }))
      .map((hook) => ({ id: hook.id, events: parseEvents(hook.events) }))
      .filter((hook) => types.some((type) => hook.events.includes(type)));
    if (!hooks.length) return;
    const events: Event[] = [];
    for (const type of types) events.push(...(await eventsOf(type, record, tx))); // one query at a time on a transaction
    const now = clock.now();
    const rows = hooks.flatMap((hook) =>
      events
        .filter((event) => hook.events.includes(event.type))
        .map((event) => ({
          id: uuid7(now),
          webhookId: hook.id,
          event: event.type,
          payload: JSON.stringify({ type: event.type, timestamp: record.createdAt.toISOString(), data: event.data }),
          nextAttemptAt: now,
          createdAt: now,
        })),
    );
    if (!rows.length) return;
    await tx.webhookDelivery.createMany({ data: rows });
    const ids = rows.map((row) => row.id);
    uow.afterCommit(() => send(ids));
  };
}
