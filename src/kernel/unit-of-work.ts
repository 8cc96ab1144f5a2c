import type { Db, Tx } from '../platform/db.ts';
import type { DomainEventMap, DomainEvents, DomainEventType } from './events.ts';

/**
 * What a write tells the world happened, and when. `emit` hands a domain event to its in-transaction
 * subscribers at once (they write with the change) and to its after-commit subscribers once the
 * transaction has committed; `afterCommit` queues any other work for then. Nothing queued runs
 * after a rollback. What must not be lost with a crash belongs inside the transaction (the audit
 * row, the webhook outbox, a queued mail).
 */
export interface UnitOfWork {
  emit<K extends DomainEventType>(type: K, payload: DomainEventMap[K]): Promise<void>;
  afterCommit(task: () => void): void;
}

/** A write in progress: its transaction and its unit of work, handed down to what writes with it. */
export interface Scope {
  tx: Tx;
  uow: UnitOfWork;
}

/** Runs `work` in one transaction with a unit of work (the composition root binds the db and events). */
export type Transact = <T>(work: (tx: Tx, uow: UnitOfWork) => Promise<T>) => Promise<T>;

export function createTransact(db: Db, events: DomainEvents<Scope>, onTaskError?: (err: unknown) => void): Transact {
  return (work) => inTransaction(db, work, { events, onTaskError });
}

/**
 * Runs `work` in one transaction and then, only if it committed, what it queued, in order. A
 * failing task is reported to `onTaskError` and does not stop the others: the change is already
 * committed, and the caller's answer must say so.
 */
export async function inTransaction<T>(
  db: Db,
  work: (tx: Tx, uow: UnitOfWork) => Promise<T>,
  { events, onTaskError = () => {} }: { events?: DomainEvents<Scope>; onTaskError?: (err: unknown) => void } = {},
): Promise<T> {
  const tasks: Array<() => void> = [];
  const result = await db.$transaction((tx) => {
    const uow: UnitOfWork = {
      async emit(type, payload) {
        const event = { type, payload };
        await events?.runInTransaction(event, { tx, uow });
        if (events) tasks.push(() => events.runAfterCommit(event));
      },
      afterCommit: (task) => void tasks.push(task),
    };
    return work(tx, uow);
  });
  for (const task of tasks) {
    try {
      task();
    } catch (err) {
      onTaskError(err);
    }
  }
  return result;
}
