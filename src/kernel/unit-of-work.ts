import type { Db, Tx } from '../platform/db.ts';

/**
 * What a write tells the world happened, and when: work queued with `afterCommit` runs once the
 * transaction has committed (realtime fan-out, metrics, cache eviction elsewhere), never after a
 * rollback. What must not be lost with a crash belongs inside the transaction instead (the audit row,
 * the webhook outbox, a queued mail).
 */
export interface UnitOfWork {
  afterCommit(task: () => void): void;
}

/**
 * Runs `work` in one transaction and then, only if it committed, the tasks it queued, in order. A
 * failing task is reported to `onTaskError` and does not stop the others: the change is already
 * committed, and the caller's answer must say so.
 */
export async function inTransaction<T>(
  db: Db,
  work: (tx: Tx, uow: UnitOfWork) => Promise<T>,
  onTaskError: (err: unknown) => void = () => {},
): Promise<T> {
  const tasks: Array<() => void> = [];
  const result = await db.$transaction((tx) => work(tx, { afterCommit: (task) => void tasks.push(task) }));
  for (const task of tasks) {
    try {
      task();
    } catch (err) {
      onTaskError(err);
    }
  }
  return result;
}
