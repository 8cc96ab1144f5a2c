import { PgBoss } from 'pg-boss';
import type { QueuePolicy } from '../config/policies.ts';
import type { Logger } from './logger.ts';

// pg-boss on the service's own PostgreSQL (schema `pgboss`): side effects that may fail or be slow
// (mail, cleanup) run as jobs with retries. LISTEN/NOTIFY wakes workers at once instead of on the
// next poll.

/** Jobs a worker fetches at once (handled one after another, each settled on its own). */
const BATCH_SIZE = 10;

export type JobHandler<T> = (job: { id: string; data: T; retryCount: number }) => Promise<void>;

export interface Queue {
  start(): Promise<void>;
  /** Declares a queue (idempotent) with its retry policy and an optional dead-letter queue. */
  declare(name: string, options?: { deadLetter?: string; policy?: Partial<QueuePolicy> }): Promise<void>;
  /**
   * Queues a job; with `tx`, inside that transaction, so the job exists exactly when the change
   * that asked for it commits.
   */
  send<T extends object>(name: string, data: T, options?: { tx?: SqlExecutor }): Promise<string>;
  work<T>(name: string, handler: JobHandler<T>): Promise<void>;
  schedule(name: string, cron: string): Promise<void>;
  stop(): Promise<void>;
}

/** Anything that runs SQL with $1 placeholders: a Prisma transaction client, for one. */
export interface SqlExecutor {
  $queryRawUnsafe<T = unknown>(query: string, ...values: unknown[]): Promise<T>;
}

export function createQueue({ databaseUrl, log, policy }: { databaseUrl: string; log: Logger; policy: QueuePolicy }): Queue {
  // Missed heartbeats and expiries are found by the supervisor's pass (60 s by default): run it
  // often, so a dead worker's jobs are retried within seconds.
  const boss = new PgBoss({
    connectionString: databaseUrl,
    useListenNotify: true,
    max: 4,
    superviseIntervalSeconds: policy.superviseIntervalSeconds,
    monitorIntervalSeconds: policy.superviseIntervalSeconds,
  });
  boss.on('error', (err: Error) => log.error({ err: { message: err.message } }, 'queue error'));
  let started: Promise<unknown> | undefined;
  /** Heartbeat and expiry by queue, also set on each job: a queue created before them keeps its old options. */
  const liveness = new Map<string, { heartbeatSeconds: number; expireInSeconds: number }>();

  return {
    async start() {
      started ??= boss.start();
      await started;
    },
    async declare(name, options = {}) {
      const p = { ...policy, ...options.policy };
      liveness.set(name, { heartbeatSeconds: p.heartbeatSeconds, expireInSeconds: p.expireInSeconds });
      await boss.createQueue(name, {
        ...liveness.get(name),
        retryLimit: p.retryLimit,
        retryDelay: p.retryDelaySeconds,
        retryBackoff: p.retryBackoff,
        ...(options.deadLetter && { deadLetter: options.deadLetter }),
        notify: true,
      });
    },
    async send(name, data, { tx } = {}) {
      const db = tx && { executeSql: async (text: string, values: unknown[] = []) => ({ rows: await tx.$queryRawUnsafe<unknown[]>(text, ...values) }) };
      const id = await boss.send(name, data, { ...liveness.get(name), ...(db && { db }) });
      if (!id) throw new Error(`queue ${name} refused the job`);
      return id;
    },
    async work(name, handler) {
      const options = {
        pollingIntervalSeconds: policy.pollingIntervalSeconds,
        // With NOTIFY on, pg-boss otherwise polls only every 30 s: retries (which no NOTIFY
        // announces) would wait that long, whatever the retry delay says.
        notifyPollingIntervalSeconds: policy.pollingIntervalSeconds,
        localConcurrency: 2,
        // After each fetch a worker sleeps until the next poll unless NOTIFY wakes it, so a backlog
        // fetched one job at a time drains at one job per poll: fetch batches, and fetch again at
        // once while they come back full. Each job of a batch succeeds or fails on its own.
        batchSize: BATCH_SIZE,
        burstWhenBatchFull: true,
        perJobResults: true as const,
      };
      await boss.work(name, options, async (jobs) => {
        const results: Array<{ id: string; status: 'completed' | 'failed'; output?: object }> = [];
        for (const job of jobs as Array<{ id: string; data: unknown; retryCount?: number }>) {
          try {
            await handler({ id: job.id, data: job.data as never, retryCount: job.retryCount ?? 0 });
            results.push({ id: job.id, status: 'completed' });
          } catch (err) {
            results.push({ id: job.id, status: 'failed', output: { message: (err as Error).message } });
          }
        }
        return results;
      });
    },
    async schedule(name, cron) {
      await boss.schedule(name, cron);
    },
    async stop() {
      if (started) await boss.stop({ graceful: true, timeout: 5000 });
    },
  };
}
