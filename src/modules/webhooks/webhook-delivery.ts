import { Counter, Gauge, type Registry } from 'prom-client';
import { Webhook as Signer } from 'standardwebhooks';
import type { WebhookPolicy } from '../../config/policies.ts';
import type { Clock } from '../../platform/clock.ts';
import type { Db } from '../../platform/db.ts';
import type { Encryptor } from '../../platform/encryption.ts';
import type { Logger } from '../../platform/logger.ts';
import type { AuditService } from '../audit/audit.service.ts';
import type { Transact } from '../../kernel/unit-of-work.ts';
import { postWebhook } from './webhook-sender.ts';

// Delivery of the outbox rows. A row is the source of truth: a job names it, a worker claims it
// for `claimMs` (so two jobs for one row never send at once), makes one attempt and settles it.
// A worker that dies mid-attempt leaves a claim that runs out, and the sweep sends it again: at
// least once, always under the same `webhook-id` (the row id).

export const DELIVER_WEBHOOK = 'deliver-webhook';
export const SWEEP_WEBHOOKS = 'sweep-webhooks';

/** Retries waiting at most this long are timed in process; longer ones are left to the sweep. */
const TIMED_IN_PROCESS_MS = 10 * 60 * 1000;
const SWEEP_BATCH = 500;

export function createWebhookMetrics(registry: Registry) {
  return {
    deliveries: new Counter({
      name: 'portcullis_webhook_deliveries_total',
      help: 'Webhook delivery attempts by event and outcome (delivered, retry, failed)',
      labelNames: ['event', 'outcome'] as const,
      registers: [registry],
    }),
    lag: new Gauge({
      name: 'portcullis_webhook_queue_lag_seconds',
      help: 'How long the oldest due webhook delivery has been waiting, at the last sweep',
      registers: [registry],
    }),
  };
}

interface Deps {
  db: Db;
  clock: Clock;
  transact: Transact;
  policy: WebhookPolicy;
  allowPrivate: boolean;
  encryptor: Encryptor;
  audit: AuditService;
  log: Logger;
  metrics: ReturnType<typeof createWebhookMetrics>;
  /** Sends a delivery job (set by the worker; absent where no worker runs). */
  enqueue: (deliveryId: string) => Promise<unknown>;
}

/** The waits between attempts: the listed ones, then `repeatEveryMs` while within `giveUpAfterMs`. */
export function retrySchedule(policy: WebhookPolicy): number[] {
  const delays = [...policy.retryDelaysMs];
  let total = delays.reduce((sum, d) => sum + d, 0);
  while (policy.repeatEveryMs > 0 && total + policy.repeatEveryMs <= policy.giveUpAfterMs) {
    delays.push(policy.repeatEveryMs);
    total += policy.repeatEveryMs;
  }
  return delays;
}

export function createWebhookDeliverer(deps: Deps) {
  const { db, clock, transact, policy, encryptor, audit, log, metrics } = deps;
  const schedule = retrySchedule(policy);

  async function claim(id: string) {
    const now = clock.now();
    const claimed = await db.webhookDelivery.updateManyAndReturn({
      where: { id, status: 'PENDING', nextAttemptAt: { lte: now }, OR: [{ claimedUntil: null }, { claimedUntil: { lt: now } }] },
      data: { claimedUntil: new Date(now.getTime() + policy.claimMs) },
      include: { webhook: true },
    });
    return claimed[0];
  }

  async function attempt(url: string, sealedSecret: string, webhookId: string, id: string, payload: string): Promise<number | Error> {
    try {
      const secret = encryptor.open(sealedSecret, `webhook:${webhookId}`);
      // Signed with the wall clock: receivers check the timestamp against theirs. One instant for
      // the header and the signature, or a second boundary between them breaks verification.
      const signedAt = new Date();
      const headers = { 'webhook-id': id, 'webhook-timestamp': String(Math.floor(signedAt.getTime() / 1000)) };
      const signature = new Signer(secret).sign(id, signedAt, payload);
      return await postWebhook(url, { ...headers, 'webhook-signature': signature }, payload, { ...policy, allowPrivate: deps.allowPrivate });
    } catch (err) {
      return err as Error;
    }
  }

  /** Records a failure on the webhook; three days of them without a success disable it (audited). */
  async function noteFailure(webhookId: string) {
    const now = clock.now();
    const hook = await db.webhook.update({
      where: { id: webhookId },
      data: { failureCount: { increment: 1 } },
      select: { failingSince: true, enabled: true },
    });
    if (!hook.failingSince) {
      await db.webhook.updateMany({ where: { id: webhookId, failingSince: null }, data: { failingSince: now } });
      return;
    }
    if (!hook.enabled || now.getTime() - hook.failingSince.getTime() < policy.disableAfterMs) return;
    await transact(async (tx, uow) => {
      const disabled = await tx.webhook.updateMany({ where: { id: webhookId, enabled: true }, data: { enabled: false, updatedAt: now } });
      if (disabled.count) await audit.record({ type: 'webhook.disabled', data: { webhookId, reason: 'failing for days' } }, { tx, uow });
    });
    log.warn({ webhookId }, 'webhook disabled after failing for days');
  }

  return {
    /** One attempt at a delivery, when it is due and nobody else holds it. */
    async deliver(id: string): Promise<void> {
      const row = await claim(id);
      if (!row) return;
      const hook = row.webhook;
      if (!hook.enabled) {
        await db.webhookDelivery.updateMany({ where: { id, status: 'PENDING' }, data: { status: 'FAILED', claimedUntil: null } });
        return;
      }
      const outcome = await attempt(hook.url, hook.secretSealed, hook.id, id, row.payload);
      const now = clock.now();
      // Settled only under our claim: a worker that outlived its claim changes nothing.
      const held = { id, status: 'PENDING' as const, claimedUntil: row.claimedUntil };
      const status = typeof outcome === 'number' ? outcome : null;
      const attempts = row.attempts + 1;
      if (status !== null && status >= 200 && status < 300) {
        const settled = await db.webhookDelivery.updateMany({
          where: held,
          data: { status: 'DELIVERED', attempts, responseStatus: status, deliveredAt: now, claimedUntil: null },
        });
        if (!settled.count) return;
        if (hook.failureCount || hook.failingSince) await db.webhook.update({ where: { id: hook.id }, data: { failureCount: 0, failingSince: null } });
        metrics.deliveries.inc({ event: row.event, outcome: 'delivered' });
        return;
      }
      const delay = schedule[attempts - 1];
      log.info(
        { deliveryId: id, webhookId: hook.id, status, error: status === null ? (outcome as Error).message : undefined, attempts },
        'webhook delivery failed',
      );
      const settled = await db.webhookDelivery.updateMany({
        where: held,
        data:
          delay === undefined
            ? { status: 'FAILED', attempts, responseStatus: status, claimedUntil: null }
            : { attempts, responseStatus: status, nextAttemptAt: new Date(now.getTime() + delay), claimedUntil: null },
      });
      if (!settled.count) return;
      metrics.deliveries.inc({ event: row.event, outcome: delay === undefined ? 'failed' : 'retry' });
      await noteFailure(hook.id);
      // Short waits are timed here; the sweep is the safety net (and times the long ones).
      if (delay !== undefined && delay <= TIMED_IN_PROCESS_MS) {
        setTimeout(() => void deps.enqueue(id).catch(() => undefined), delay).unref();
      }
    },

    /** Sends a job for every due delivery nobody holds (new ones whose job was lost, retries, dead workers' claims). */
    async sweep(): Promise<number> {
      const now = clock.now();
      const due = await db.webhookDelivery.findMany({
        where: { status: 'PENDING', nextAttemptAt: { lte: now }, OR: [{ claimedUntil: null }, { claimedUntil: { lt: now } }] },
        select: { id: true, nextAttemptAt: true },
        orderBy: { nextAttemptAt: 'asc' },
        take: SWEEP_BATCH,
      });
      metrics.lag.set(due.length ? (now.getTime() - due[0]!.nextAttemptAt.getTime()) / 1000 : 0);
      for (const { id } of due) await deps.enqueue(id);
      return due.length;
    },
  };
}

export type WebhookDeliverer = ReturnType<typeof createWebhookDeliverer>;
