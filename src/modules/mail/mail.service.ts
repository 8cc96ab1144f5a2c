import { randomUUID } from 'node:crypto';
import type { Config } from '../../config/env.ts';
import type { TokenPolicy } from '../../config/policies.ts';
import type { Clock } from '../../platform/clock.ts';
import type { Db } from '../../platform/db.ts';
import type { Logger } from '../../platform/logger.ts';
import { maskEmail } from '../../platform/logger.ts';
import type { Mailer } from '../../platform/mailer/mailer.ts';
import type { Metrics } from '../../platform/metrics.ts';
import type { Queue, SqlExecutor } from '../../platform/queue.ts';
import type { RenderedMail } from './templates.ts';

// Mail is a job: a request only enqueues {template, email}, the same work whether or not the
// address has an account (no enumeration by content or by time). The worker composes the mail at
// send time — issuing the one-time secret it carries, so no secret waits in the queue or the
// database — and sends it. Sending is idempotent per mail (the job id); failures are retried with
// backoff and end in a dead-letter queue. A mail whose secret would already have expired had it
// been issued at the request (a job stranded by a dead worker, a long outage) is dropped: a late
// link only confuses, and the user has asked again meanwhile.

export const SEND_MAIL = 'send-mail';
export const SEND_MAIL_DEAD = 'send-mail-dead';

export type MailTemplate =
  | 'magic-link'
  | 'email-code'
  | 'password-reset'
  | 'email-verification'
  | 'password-changed'
  | 'second-factor-enabled'
  | 'second-factor-disabled'
  | 'passkey-added';

export interface MailRequest {
  template: MailTemplate;
  email: string;
  userId?: string;
}

/** A queued mail: the request plus its id, which survives retries and the dead-letter queue. */
export interface MailJob extends MailRequest {
  mailId: string;
  /**
   * When the mail was asked for (ISO), by the wall clock like the queue's own timing (the process
   * that queues and the one that sends may run different clocks in tests); absent on older jobs.
   */
  requestedAt?: string;
}

/** How long after its request a mail is still worth sending: the life of the secret it carries. */
export function sendableForMs(template: MailTemplate, tokens: TokenPolicy): number | null {
  switch (template) {
    case 'magic-link':
      return tokens.magicLinkTtlMs;
    case 'email-code':
      return tokens.emailCodeTtlMs;
    case 'password-reset':
      return tokens.passwordResetTtlMs;
    case 'email-verification':
      return tokens.emailVerificationTtlMs;
    case 'password-changed':
    case 'second-factor-enabled':
    case 'second-factor-disabled':
    case 'passkey-added':
      return null; // a notice, never stale
  }
}

/** Builds one mail at send time; null when there is nothing to send (e.g. an unknown address). */
export type MailComposer = (request: MailRequest) => Promise<{ to: string; mail: RenderedMail } | null>;

interface Deps {
  db: Db;
  clock: Clock;
  queue: Queue;
  mailer: Mailer;
  config: Pick<Config, 'mailFrom' | 'tokens'>;
  metrics: Metrics;
  log: Logger;
}

export function createMailService({ db, clock, queue, mailer, config, metrics, log }: Deps) {
  const composers = new Map<MailTemplate, MailComposer>();

  return {
    register(template: MailTemplate, composer: MailComposer): void {
      composers.set(template, composer);
    },

    /**
     * Queues a mail; the caller has already applied its limits. With `tx`, the mail is queued in
     * the transaction of the change that requires it: both commit, or neither.
     */
    async request(request: MailRequest, tx?: SqlExecutor): Promise<void> {
      await queue.send(SEND_MAIL, { ...request, mailId: randomUUID(), requestedAt: new Date().toISOString() } satisfies MailJob, { tx });
    },

    /** The worker: composes and sends the mail of job `mailId` unless it was sent already. */
    async deliver({ mailId, requestedAt, ...request }: MailJob): Promise<void> {
      const previous = await db.mail.findUnique({ where: { id: mailId }, select: { status: true } });
      if (previous?.status === 'SENT') return;
      const sendableFor = sendableForMs(request.template, config.tokens);
      if (requestedAt && sendableFor !== null && Date.now() - Date.parse(requestedAt) >= sendableFor) {
        metrics.mailSent.inc({ template: request.template, result: 'expired' });
        log.warn({ mailId, template: request.template, requestedAt }, 'mail dropped: its secret would have expired before it arrived');
        return;
      }
      const composer = composers.get(request.template);
      if (!composer) throw new Error(`no composer for mail template ${request.template}`);
      const composed = await composer(request);
      if (!composed) return;
      const { to, mail } = composed;
      await db.mail.upsert({
        where: { id: mailId },
        create: { id: mailId, template: request.template, to, subject: mail.subject, createdAt: clock.now(), attempts: 1 },
        update: { attempts: { increment: 1 } },
      });
      try {
        await mailer.send({ id: mailId, template: request.template, from: config.mailFrom, to, ...mail });
      } catch (err) {
        metrics.mailSent.inc({ template: request.template, result: 'failure' });
        const status = (err as { code?: number }).code;
        log.warn({ mailId, template: request.template, to: maskEmail(to), status }, 'mail provider refused the mail; it will be retried');
        throw new Error(`mail provider refused mail ${mailId}${status ? ` (${status})` : ''}`);
      }
      await db.mail.update({ where: { id: mailId }, data: { status: 'SENT', sentAt: clock.now() } });
      metrics.mailSent.inc({ template: request.template, result: 'success' });
    },

    /** The latest mails of the dev outbox, newest first. */
    latestInOutbox(limit = 50) {
      return db.devOutboxMail.findMany({ orderBy: [{ createdAt: 'desc' }, { id: 'desc' }], take: limit });
    },

    /** A mail that exhausted its retries. */
    async markFailed({ mailId, ...request }: MailJob): Promise<void> {
      await db.mail.updateMany({ where: { id: mailId, status: 'QUEUED' }, data: { status: 'FAILED' } });
      metrics.mailSent.inc({ template: request.template, result: 'dead' });
      log.error({ mailId, template: request.template, to: maskEmail(request.email) }, 'mail given up after its retries');
    },
  };
}

export type MailService = ReturnType<typeof createMailService>;
