import type { Clock } from '../../platform/clock.ts';
import type { Db, Tx } from '../../platform/db.ts';
import type { ClientInfo } from '../sessions/sessions.service.ts';

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

export interface AuditRecord {
  id: string;
  type: string;
  userId: string | null;
  actorId: string | null;
  ipAddress: string | null;
  userAgent: string | null;
  data: string | null;
  createdAt: Date;
}

interface Deps {
  db: Db;
  clock: Clock;
  /** Told of every recorded event once it is committed (the live admin feed). */
  onRecorded?: (event: AuditRecord) => void;
}

export function createAuditService({ db, clock, onRecorded }: Deps) {
  return {
    /**
     * Records an event, inside `tx` when given. With a transaction, the caller announces the
     * returned record after commit (`announce`), so nobody hears of an event that was rolled back.
     */
    async record(event: AuditEventInput, tx?: Tx): Promise<AuditRecord> {
      const record = await (tx ?? db).auditEvent.create({
        data: {
          type: event.type,
          userId: event.userId ?? null,
          actorId: event.actorId ?? null,
          ipAddress: event.client?.ipAddress ?? null,
          userAgent: event.client?.userAgent ?? null,
          data: event.data ? JSON.stringify(event.data) : null,
          createdAt: clock.now(),
        },
      });
      if (!tx) onRecorded?.(record);
      return record;
    },

    announce(records: AuditRecord[]): void {
      for (const record of records) onRecorded?.(record);
    },
  };
}

export type AuditService = ReturnType<typeof createAuditService>;
