import type { Config } from './config/env.ts';
import { declareQueues, startWorkers } from './jobs/workers.ts';
import type { Clock } from './platform/clock.ts';
import { createDb, type Db } from './platform/db.ts';
import { createEncryptor, developmentKey, parseKey } from './platform/encryption.ts';
import { createEvents } from './platform/events.ts';
import type { Logger } from './platform/logger.ts';
import { createDevOutboxMailer } from './platform/mailer/dev-outbox.ts';
import type { Mailer } from './platform/mailer/mailer.ts';
import { createSendgridMailer } from './platform/mailer/sendgrid.ts';
import { createMetrics } from './platform/metrics.ts';
import { createQueue } from './platform/queue.ts';
import { createRedis, type Redis } from './platform/redis.ts';
import { createServices } from './services.ts';

/**
 * The adapters and services without any transport: what the HTTP app (src/app.ts) and the
 * standalone worker (src/worker.ts) share.
 */
export function createCore({ config, databaseUrl, clock, log }: { config: Config; databaseUrl: string; clock: Clock; log: Logger }) {
  const db = createDb(databaseUrl);
  const redis: Redis | undefined = config.redisUrl ? createRedis(config.redisUrl, config.redisPrefix) : undefined;
  redis?.on('error', (err) => log.warn({ err: { message: err.message } }, 'redis error'));
  const metrics = createMetrics();
  const events = createEvents({ redisUrl: config.redisUrl, prefix: config.redisPrefix, log });
  const queue = createQueue({ databaseUrl, log, policy: config.queue });
  const mailer = createMailer(config, db, log);
  const encryptor = createEncryptor(
    config.encryptionKey ? parseKey(config.encryptionKey)! : developmentKey(config.dataDir),
    config.encryptionKeysOld.map((key) => parseKey(key)!),
  );
  const services = createServices({ db, clock, config, log, metrics, redis, events, queue, mailer, encryptor });

  return {
    db,
    redis,
    metrics,
    events,
    services,
    /** Starts the job queue, and its workers when `withWorkers`. */
    async startJobs(withWorkers: boolean) {
      await queue.start();
      await declareQueues(queue);
      if (withWorkers) await startWorkers({ queue, services, db, clock, log, config });
    },
    async close() {
      await queue.stop();
      await db.$disconnect();
      await events.close();
      if (redis) await redis.quit().catch(() => redis.disconnect());
    },
  };
}

export type Core = ReturnType<typeof createCore>;

/**
 * SendGrid when configured; otherwise the dev outbox, but only where it is on (config.devOutbox:
 * never in production, else a loopback PUBLIC_URL or DEV_OUTBOX=true): it shows every magic link
 * to whoever can reach it. Elsewhere every mail fails (retried, then dead-lettered) until a
 * provider is configured, and the start says so in one line.
 */
function createMailer(config: Config, db: Db, log: Logger): Mailer {
  if (config.sendgridApiKey) return createSendgridMailer({ apiKey: config.sendgridApiKey, apiUrl: config.sendgridApiUrl });
  if (!config.devOutbox) {
    const why = config.production ? '' : ' and the dev outbox is off (PUBLIC_URL is not a loopback URL; DEV_OUTBOX=true turns it on)';
    log.error(`SENDGRID_API_KEY is not set${why}: no mail (magic links, codes, resets, verification) can be sent`);
    return {
      name: 'outbox',
      send: () => Promise.reject(new Error('no mail provider is configured (SENDGRID_API_KEY)')),
    };
  }
  // The outbox stamps mails with the wall clock: it lists them in the order they arrived.
  return createDevOutboxMailer({ db, log, publicUrl: config.publicUrl, now: () => new Date() });
}
