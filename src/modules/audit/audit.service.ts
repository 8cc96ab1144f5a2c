import { auditErrors } from './audit-errors.ts';
import type { Clock } from '../../platform/clock.ts';
import type { Db } from '../../platform/db.ts';
import type { Scope, Transact } from '../../kernel/unit-of-work.ts';
import { uuid7 } from '../../platform/uuid7.ts';
import { after, isUuid, newestFirst, pageSize, toPage, type Page } from '../../kernel/pagination.ts';
import type { ClientInfo } from '../../kernel/client.ts';
import type { AuditEvent } from '../../generated/prisma/client.ts';

// The security log. Services record events as they act (never resolvers); an event that goes with
// a business write is recorded in that write's transaction, so neither exists without the other.

export interface AuditEventInput {
  /** e.g. login.succeeded, login.failed, user.registered, session.revoked, user.locked, password.reset */
  type: string;
  /** The user the event is about. */
  userId?: string | null;
  /** Who acted, when not the user itself (an admin). */
  actorId?: string | null;
  client?: ClientInfo | null;
  /** Details, stored as JSON text: never a password, token or code. */
  data?: Record<string, unknown>;
}

/** A recorded event: the same shape the live feed carries between instances. */
export type AuditRecord = AuditEvent;

export interface AuditFilter {
  first?: number | null;
  after?: string | null;
  userId?: string | null;
  actorId?: string | null;
  type?: string | null;
}

declare module '../../kernel/events.ts' {
  interface DomainEventMap {
    /** An audit row was written: in its transaction the webhook outbox writes with it; after commit the live feed hears it. */
    'audit.recorded': AuditRecord;
  }
}

interface Deps {
  db: Db;
  clock: Clock;
  /** For an event recorded on its own, outside a caller's write. */
  transact: Transact;
}

const TYPE_MAX = 100;
const USER_AGENT_MAX = 512;

export function createAuditService({ db, clock, transact }: Deps) {
  const idFilter = (name: string, value: string | null | undefined) => {
    if (value == null) return undefined;
    if (!isUuid(value)) throw auditErrors.notAnId(name);
    return value;
  };

  async function write(event: AuditEventInput, { tx, uow }: Scope): Promise<AuditRecord> {
    const createdAt = clock.now();
    const record = await tx.auditEvent.create({
      data: {
        // Time-ordered, so events written within one millisecond still list in order.
        id: uuid7(createdAt),
        type: event.type,
        userId: event.userId ?? null,
        actorId: event.actorId ?? null,
        ipAddress: event.client?.ipAddress ?? null,
        userAgent: event.client?.userAgent?.slice(0, USER_AGENT_MAX) ?? null,
        data: event.data ? JSON.stringify(event.data) : null,
        createdAt,
      },
    });
    await uow.emit('audit.recorded', record);
    return record;
  }

  return {
    /**
     * Records an event in the write it goes with (`scope`), so neither exists without the other and
     * nobody hears of it before it commits; without a scope, in a transaction of its own.
     */
    record(event: AuditEventInput, scope?: Scope): Promise<AuditRecord> {
      return scope ? write(event, scope) : transact((tx, uow) => write(event, { tx, uow }));
    },

    /** The log, newest first, optionally about one user, by one actor, or of one type. */
    async list(filter: AuditFilter): Promise<Page<AuditRecord>> {
      const size = pageSize(filter.first);
      if (filter.type != null && filter.type.length > TYPE_MAX) throw auditErrors.typeTooLong();
      const where = {
        ...after(filter.after),
        userId: idFilter('userId', filter.userId),
        actorId: idFilter('actorId', filter.actorId),
        type: filter.type ?? undefined,
      };
      const rows = await db.auditEvent.findMany({ where, orderBy: newestFirst, take: size + 1 });
      return toPage(rows, size);
    },
  };
}

export type AuditService = ReturnType<typeof createAuditService>;
