import { badInput } from '../../kernel/errors.ts';
import type { Clock } from '../../platform/clock.ts';
import type { Db, Tx } from '../../platform/db.ts';
import { uuid7 } from '../../platform/uuid7.ts';
import { after, isUuid, newestFirst, pageSize, toPage, type Page } from '../../kernel/pagination.ts';
import type { ClientInfo } from '../../kernel/client.ts';
import type { AuditedEvent } from '../../platform/events.ts';

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
export type AuditRecord = AuditedEvent;

export interface AuditFilter {
  first?: number | null;
  after?: string | null;
  userId?: string | null;
  actorId?: string | null;
  type?: string | null;
}

interface Deps {
  db: Db;
  clock: Clock;
  /** Told of every recorded event once it is committed (the live admin feed). */
  onRecorded?: (event: AuditRecord) => void;
  /**
   * Run with each record right after it is written, in its transaction (the webhook outbox): what
   * they write commits or rolls back with the event. Filled by the composition root.
   */
  inTransaction?: ReadonlyArray<AuditSubscriber>;
}

export type AuditSubscriber = (record: AuditRecord, tx: Tx) => Promise<void>;

const TYPE_MAX = 100;
const USER_AGENT_MAX = 512;

export function createAuditService({ db, clock, onRecorded, inTransaction = [] }: Deps) {
  // Events recorded in a transaction wait here until it has committed. Announcing any one of them
  // announces every event of its transaction, in the order they were written: a helper that
  // records inside a caller's transaction (a revocation, an account creation) is heard as soon as
  // the caller announces its own event. Weak maps: a rolled-back transaction just goes away.
  const pending = new WeakMap<object, AuditRecord[]>();
  const transactionOf = new WeakMap<AuditRecord, object>();

  const idFilter = (name: string, value: string | null | undefined) => {
    if (value == null) return undefined;
    if (!isUuid(value)) throw badInput(`${name} is not a valid id`);
    return value;
  };

  return {
    /**
     * Records an event, inside `tx` when given. With a transaction, the caller announces the
     * returned record after commit (`announce`), so nobody hears of an event that was rolled back.
     */
    async record(event: AuditEventInput, tx?: Tx): Promise<AuditRecord> {
      const createdAt = clock.now();
      const record = await (tx ?? db).auditEvent.create({
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
      for (const subscriber of inTransaction) await subscriber(record, tx ?? db);
      if (!tx) {
        onRecorded?.(record);
        return record;
      }
      pending.set(tx, [...(pending.get(tx) ?? []), record]);
      transactionOf.set(record, tx);
      return record;
    },

    /** After commit: announces these records and every other one written in their transactions. */
    announce(records: Array<AuditRecord | undefined>): void {
      for (const record of records) {
        const tx = record && transactionOf.get(record);
        const batch = tx && pending.get(tx);
        if (!batch) continue;
        pending.delete(tx);
        for (const each of batch) onRecorded?.(each);
      }
    },

    /** The log, newest first, optionally about one user, by one actor, or of one type. */
    async list(filter: AuditFilter): Promise<Page<AuditRecord>> {
      const size = pageSize(filter.first);
      if (filter.type != null && filter.type.length > TYPE_MAX) throw badInput('type is too long');
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
