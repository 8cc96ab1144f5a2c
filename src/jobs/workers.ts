import type { Config } from '../config/env.ts';
import { declareWebhookQueues, startWebhookWorkers } from './deliver-webhook.ts';
import { SEND_MAIL, SEND_MAIL_DEAD, type MailJob, type MailService } from '../modules/mail/mail.service.ts';
import type { Clock } from '../platform/clock.ts';
import type { Db } from '../platform/db.ts';
import type { Logger } from '../platform/logger.ts';
import type { Queue } from '../platform/queue.ts';
import type { WebhooksService } from '../modules/webhooks/webhooks.service.ts';

export const CLEANUP = 'cleanup';

/** Declares every queue; run by each process that sends jobs, whether or not it works them. */
export async function declareQueues(queue: Queue): Promise<void> {
  await queue.declare(SEND_MAIL_DEAD, { policy: { retryLimit: 0 } });
  await queue.declare(SEND_MAIL, { deadLetter: SEND_MAIL_DEAD });
  await queue.declare(CLEANUP, { policy: { retryLimit: 1 } });
  await declareWebhookQueues(queue);
}

/** The workers: mail delivery, its dead letters, and the daily cleanup. */
export async function startWorkers({
  queue,
  services,
  db,
  clock,
  log,
}: {
  queue: Queue;
  /** The services whose jobs run here. */
  services: { mail: MailService; webhooks: WebhooksService };
  db: Db;
  clock: Clock;
  log: Logger;
  config: Config;
}): Promise<void> {
  await queue.work<MailJob>(SEND_MAIL, ({ data }) => services.mail.deliver(data));
  await queue.work<MailJob>(SEND_MAIL_DEAD, ({ data }) => services.mail.markFailed(data));
  await queue.work(CLEANUP, async () => {
    const removed = await cleanup(db, clock.now());
    log.info(removed, 'cleanup done');
  });
  await queue.schedule(CLEANUP, '17 3 * * *'); // daily, off the hour
  await startWebhookWorkers(queue, services);
}

/** Failure counts are kept at most this long (the longest throttle window). */
const THROTTLE_KEPT_MS = 24 * 60 * 60 * 1000;

/** Deletes what can no longer be used: expired one-time secrets, OAuth attempts, passkey challenges, sessions and throttles. */
export async function cleanup(db: Db, now: Date): Promise<{ tokens: number; attempts: number; challenges: number; sessions: number; throttles: number }> {
  const windowsEnded = new Date(now.getTime() - THROTTLE_KEPT_MS);
  const [tokens, attempts, challenges, sessions, throttles] = await db.$transaction([
    db.oneTimeToken.deleteMany({ where: { expiresAt: { lt: now } } }),
    db.oAuthAttempt.deleteMany({ where: { expiresAt: { lt: now } } }),
    db.passkeyChallenge.deleteMany({ where: { expiresAt: { lt: now } } }),
    db.session.deleteMany({ where: { OR: [{ expiresAt: { lt: now } }, { idleExpiresAt: { lt: now } }] } }),
    db.throttle.deleteMany({ where: { windowStartedAt: { lt: windowsEnded }, OR: [{ blockedUntil: null }, { blockedUntil: { lt: now } }] } }),
  ]);
  return { tokens: tokens.count, attempts: attempts.count, challenges: challenges.count, sessions: sessions.count, throttles: throttles.count };
}
