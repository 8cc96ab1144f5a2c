import { DELIVER_WEBHOOK, SWEEP_WEBHOOKS } from '../modules/webhooks/webhook-delivery.ts';
import type { Queue } from '../platform/queue.ts';
import type { WebhooksService } from '../modules/webhooks/webhooks.service.ts';

// Webhook delivery jobs. Each job names one outbox row and makes at most one attempt; retries are
// timed by the row (its own schedule), so the queue itself never retries. The sweep sends jobs for
// due rows nobody holds: retries, jobs lost between a commit and its send, dead workers' claims.

export async function declareWebhookQueues(queue: Queue): Promise<void> {
  await queue.declare(DELIVER_WEBHOOK, { policy: { retryLimit: 0 } });
  await queue.declare(SWEEP_WEBHOOKS, { policy: { retryLimit: 0 } });
}

export async function startWebhookWorkers(queue: Queue, services: { webhooks: WebhooksService }): Promise<void> {
  const { deliverer, workers } = services.webhooks;
  // Attempts mostly wait on receivers (up to the timeout each): several workers, so one slow
  // receiver does not hold up the others.
  for (let i = 0; i < workers; i++) {
    await queue.work<{ deliveryId: string }>(DELIVER_WEBHOOK, ({ data }) => deliverer.deliver(data.deliveryId));
  }
  await queue.work(SWEEP_WEBHOOKS, async () => void (await deliverer.sweep()));
  await queue.schedule(SWEEP_WEBHOOKS, '* * * * *');
  // At start too: what a stopped worker left behind goes out now rather than at the next minute.
  await queue.send(SWEEP_WEBHOOKS, {});
}
