import { PgBoss } from 'pg-boss';
import type { QueuePolicy } from '../config.ts';
import type { Logger } from './logger.ts';

// pg-boss on the service's own PostgreSQL (schema `pgboss`): side effects that may fail or be slow
// (mail, cleanup) run as jobs with retries. LISTEN/NOTIFY wakes workers at once instead of on the
// next poll.

export type JobHandler<T> = (job: { id: string; data: T; retryCount: number }) => Promise<void>;

export interface Queue {
  start(): Promise<void>;
  /** Declares a queue (idempotent) with its retry policy and an optional dead-letter queue. */
  declare(name: string, options?: { deadLetter?: string; policy?: Partial<QueuePolicy> }): Promise<void>;
  send<T extends object>(name: string, data: T): Promise<string>;
  work<T>(name: string, handler: JobHandler<T>): Promise<void>;
  schedule(name: string, cron: string): Promise<void>;
  stop(): Promise<void>;
}

export function createQueue({ databaseUrl, log, policy }: { databaseUrl: string; log: Logger; policy: QueuePolicy }): Queue {
  const boss = new PgBoss({ connectionString: databaseUrl, useListenNotify: true, max: 4 });
  boss.on('error', (err: Error) => log.error({ err: { message: err.message } }, 'queue error'));
  let started: Promise<unknown> | undefined;

  return {
    async start() {
      started ??= boss.start();
      await started;
    },
    async declare(name, options = {}) {
      const p = { ...policy, ...options.policy };
      await boss.createQueue(name, {
        retryLimit: p.retryLimit,
        retryDelay: p.retryDelaySeconds,
        retryBackoff: p.retryBackoff,
        ...(options.deadLetter && { deadLetter: options.deadLetter }),
        notify: true,
      });
    },
    async send(name, data) {
      const id = await boss.send(name, data);
      if (!id) throw new Error(`queue ${name} refused the job`);
      return id;
    },
    async work(name, handler) {
      await boss.work(name, { pollingIntervalSeconds: policy.pollingIntervalSeconds, localConcurrency: 2 }, async (jobs) => {
        for (const job of jobs as Array<{ id: string; data: unknown; retryCount?: number }>) {
          await handler({ id: job.id, data: job.data as never, retryCount: job.retryCount ?? 0 });
        }
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
