/**
 * Domain events: what a write tells the rest of the system, without knowing who listens. A service
 * emits them into its unit of work; subscribers registered by the composition root react either
 * inside the transaction (they write with it: the audit's outbox of webhooks) or after it has
 * committed (realtime fan-out, metrics, cache eviction), never after a rollback.
 */
// Each module declares its own events by augmenting this map where it defines their payload
// (`declare module '…/kernel/events.ts' { interface DomainEventMap { 'sessions.revoked': … } }`).
// biome-ignore lint/suspicious/noEmptyInterface: filled by declaration merging
export interface DomainEventMap {}

export type DomainEventType = keyof DomainEventMap & string;
/** An emitted event as the dispatcher carries it. */
export interface DomainEvent {
  type: string;
  payload: unknown;
}

type InTransactionHandler<K extends DomainEventType, S> = (payload: DomainEventMap[K], scope: S) => Promise<void>;
type AfterCommitHandler<K extends DomainEventType> = (payload: DomainEventMap[K]) => void;

/** `S`: what an in-transaction handler is handed to write with (the unit of work's scope). */
export interface DomainEvents<S> {
  /** Runs inside the emitting transaction: what it writes commits or rolls back with the change. */
  inTransaction<K extends DomainEventType>(type: K, handler: InTransactionHandler<K, S>): void;
  /** Runs once the emitting transaction has committed, in the order the events were emitted. */
  afterCommit<K extends DomainEventType>(type: K, handler: AfterCommitHandler<K>): void;
  /** Used by the unit of work: the in-transaction handlers of one event. */
  runInTransaction(event: DomainEvent, scope: S): Promise<void>;
  /** Used by the unit of work: the after-commit handlers of one event. */
  runAfterCommit(event: DomainEvent): void;
}

export function createDomainEvents<S>(onHandlerError: (err: unknown, type: string) => void = () => {}): DomainEvents<S> {
  const before = new Map<string, Array<InTransactionHandler<DomainEventType, S>>>();
  const after = new Map<string, Array<AfterCommitHandler<DomainEventType>>>();
  const add = <H>(map: Map<string, H[]>, type: string, handler: H) => map.set(type, [...(map.get(type) ?? []), handler]);
  return {
    inTransaction: (type, handler) => add(before, type, handler as InTransactionHandler<DomainEventType, S>),
    afterCommit: (type, handler) => add(after, type, handler as AfterCommitHandler<DomainEventType>),
    async runInTransaction(event, scope) {
      for (const handler of before.get(event.type) ?? []) await handler(event.payload as never, scope);
    },
    runAfterCommit(event) {
      // The change is committed: one failing listener must not keep the others from hearing of it.
      for (const handler of after.get(event.type) ?? []) {
        try {
          handler(event.payload as never);
        } catch (err) {
          onHandlerError(err, event.type);
        }
      }
    },
  };
}
