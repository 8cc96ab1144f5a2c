import { randomBytes } from 'node:crypto';
import type { Registry } from 'prom-client';
import type { Config } from '../../config/env.ts';
import { webhookErrors as errors } from './webhook-errors.ts';
import type { Webhook, WebhookDelivery } from '../../generated/prisma/client.ts';
import type { Clock } from '../../platform/clock.ts';
import type { Db, Tx } from '../../platform/db.ts';
import type { Encryptor } from '../../platform/encryption.ts';
import type { Logger } from '../../platform/logger.ts';
import type { Queue } from '../../platform/queue.ts';
import { uuid7 } from '../../platform/uuid7.ts';
import type { Actor } from '../admin/admin-guard.ts';
import type { AuditService } from '../audit/audit.service.ts';
import type { Transact } from '../../kernel/unit-of-work.ts';
import { after, isUuid, newestFirst, pageSize, toPage, type Page } from '../../kernel/pagination.ts';
import { ForbiddenTargetError, resolvePublic } from './webhook-address.ts';
import { createWebhookDeliverer, createWebhookMetrics, DELIVER_WEBHOOK } from './webhook-delivery.ts';
import { createWebhookOutbox, parseEvents, WEBHOOK_EVENTS } from './webhook-outbox.ts';

// Webhook management for admins (API.md "Webhooks"), the outbox subscriber and delivery. Secrets
// are shown once, at creation and rotation, and kept sealed under ENCRYPTION_KEY.

export interface WebhookView extends Omit<Webhook, 'events' | 'secretSealed'> {
  events: string[];
}

export interface WebhookInput {
  url?: string | null;
  events?: string[] | null;
  description?: string | null;
  enabled?: boolean | null;
}

interface Deps {
  db: Db;
  clock: Clock;
  config: Config;
  log: Logger;
  transact: Transact;
  audit: AuditService;
  encryptor: Encryptor;
  queue: Queue;
  registry: Registry;
}

const URL_MAX = 2000;
const DESCRIPTION_MAX = 200;

const view = ({ secretSealed: _secret, events, ...hook }: Webhook): WebhookView => ({ ...hook, events: parseEvents(events) });
const newSecret = () => `whsec_${randomBytes(24).toString('base64')}`;

export function createWebhooksService({ db, clock, config, log, transact, audit, encryptor, queue, registry }: Deps) {
  const metrics = createWebhookMetrics(registry);
  const enqueue = (deliveryId: string) => queue.send(DELIVER_WEBHOOK, { deliveryId });
  const deliverer = createWebhookDeliverer({
    db,
    clock,
    transact,
    policy: config.webhooks,
    allowPrivate: config.webhookAllowPrivate,
    encryptor,
    audit,
    log,
    metrics,
    enqueue,
  });
  // Deliveries are written with the audited change and sent once it has committed (the sweep
  // catches any send that fails).
  const outbox = createWebhookOutbox({
    clock,
    send: (ids) => {
      for (const id of ids) void enqueue(id).catch((err: Error) => log.warn({ err: { message: err.message } }, 'webhook job not sent; the sweep will'));
    },
  });

  async function checkedUrl(url: string): Promise<string> {
    let parsed: URL;
    try {
      parsed = new URL(url.trim());
    } catch {
      throw errors.urlInvalid();
    }
    if (url.length > URL_MAX) throw errors.urlTooLong(URL_MAX);
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw errors.urlNotHttp();
    if (parsed.username || parsed.password) throw errors.urlWithCredentials();
    try {
      await resolvePublic(parsed.hostname, config.webhookAllowPrivate);
    } catch (err) {
      if (err instanceof ForbiddenTargetError) throw errors.urlRefused(err.message);
      throw err;
    }
    return parsed.toString();
  }

  function checkedEvents(events: string[]): string {
    const unknown = events.filter((e) => !(WEBHOOK_EVENTS as readonly string[]).includes(e));
    if (unknown.length) throw errors.unknownEvents(unknown);
    if (!events.length) throw errors.noEvents();
    return [...new Set(events)].join(',');
  }

  function checkedDescription(description: string | null | undefined) {
    const text = description?.trim() || null;
    if (text && text.length > DESCRIPTION_MAX) throw errors.descriptionTooLong(DESCRIPTION_MAX);
    return text;
  }

  /** Runs `work` with its audit event in one transaction. */
  function audited<T>(actor: Actor, type: string, work: (tx: Tx) => Promise<T & { id: string }>, data?: Record<string, unknown>) {
    return transact(async (tx, uow) => {
      const result = await work(tx);
      await audit.record({ type, actorId: actor.userId, client: actor.client, data: { webhookId: result.id, ...data } }, { tx, uow });
      return result;
    });
  }

  async function existing(tx: Tx | Db, id: string): Promise<Webhook> {
    const hook = isUuid(id) ? await tx.webhook.findUnique({ where: { id } }) : null;
    if (!hook) throw errors.noSuchWebhook();
    return hook;
  }

  return {
    deliverer,
    /** Delivery workers to run per process. */
    workers: config.webhooks.workers,
    /** The in-transaction subscriber of 'audit.recorded' (wired by the composition root). */
    outbox,

    async list(): Promise<WebhookView[]> {
      return (await db.webhook.findMany({ orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] })).map(view);
    },

    async create(actor: Actor, input: WebhookInput): Promise<{ webhook: WebhookView; secret: string }> {
      const url = await checkedUrl(input.url ?? '');
      const events = checkedEvents(input.events ?? []);
      const description = checkedDescription(input.description);
      const now = clock.now();
      const id = uuid7(now);
      const secret = newSecret();
      const secretSealed = encryptor.seal(secret, `webhook:${id}`);
      const hook = await audited(
        actor,
        'webhook.created',
        (tx) => tx.webhook.create({ data: { id, url, events, description, secretSealed, createdAt: now, updatedAt: now } }),
        // The origin only: a receiver's URL may carry a token of its own in its path or query.
        { origin: new URL(url).origin, events: parseEvents(events) },
      );
      return { webhook: view(hook), secret };
    },

    async update(actor: Actor, id: string, input: WebhookInput): Promise<WebhookView> {
      const data: Partial<Pick<Webhook, 'url' | 'events' | 'description' | 'enabled' | 'failingSince' | 'failureCount'>> = {};
      if (input.url != null) data.url = await checkedUrl(input.url);
      if (input.events != null) data.events = checkedEvents(input.events);
      if (input.description !== undefined) data.description = checkedDescription(input.description);
      if (input.enabled != null) data.enabled = input.enabled;
      // Enabled again: its failures start over.
      if (input.enabled) Object.assign(data, { failingSince: null, failureCount: 0 });
      const hook = await audited(
        actor,
        'webhook.updated',
        async (tx) => {
          await existing(tx, id);
          return tx.webhook.update({ where: { id }, data: { ...data, updatedAt: clock.now() } });
        },
        { fields: Object.keys(data) },
      );
      return view(hook);
    },

    async remove(actor: Actor, id: string): Promise<boolean> {
      await audited(actor, 'webhook.deleted', async (tx) => {
        const hook = await existing(tx, id);
        await tx.webhook.delete({ where: { id } });
        return hook;
      });
      return true;
    },

    async rotateSecret(actor: Actor, id: string): Promise<{ webhook: WebhookView; secret: string }> {
      const secret = newSecret();
      const hook = await audited(actor, 'webhook.secret_rotated', async (tx) => {
        await existing(tx, id);
        return tx.webhook.update({ where: { id }, data: { secretSealed: encryptor.seal(secret, `webhook:${id}`), updatedAt: clock.now() } });
      });
      return { webhook: view(hook), secret };
    },

    async deliveries(webhookId: string, first?: number | null, cursor?: string | null): Promise<Page<WebhookDelivery>> {
      const size = pageSize(first);
      await existing(db, webhookId);
      const rows = await db.webhookDelivery.findMany({ where: { webhookId, ...after(cursor) }, orderBy: newestFirst, take: size + 1 });
      return toPage(rows, size);
    },

    /** Sends a delivery again, whatever its status, under the same id. */
    async redeliver(actor: Actor, deliveryId: string): Promise<boolean> {
      if (!isUuid(deliveryId)) throw errors.noSuchDelivery();
      await audited(
        actor,
        'webhook.redelivered',
        async (tx) => {
          const found = await tx.webhookDelivery.updateManyAndReturn({
            where: { id: deliveryId },
            data: { status: 'PENDING', nextAttemptAt: clock.now(), claimedUntil: null },
          });
          if (!found[0]) throw errors.noSuchDelivery();
          return { id: found[0].webhookId };
        },
        { deliveryId },
      );
      await enqueue(deliveryId).catch(() => undefined);
      return true;
    },
  };
}

export type WebhooksService = ReturnType<typeof createWebhooksService>;
