// The webhook operations the tests send, and the receiver (shared with the benchmark, in scripts/).

export { startReceiver, type Receiver } from '../../scripts/webhook-receiver.ts';

export const CREATE = `mutation($input: AdminCreateWebhookInput!) {
  adminCreateWebhook(input: $input) { webhook { id url events description enabled failureCount } secret } }`;
export const DELIVERIES = `query($id: ID!, $first: Int, $after: String) { adminWebhookDeliveries(webhookId: $id, first: $first, after: $after) {
  edges { cursor node { id event status attempts responseStatus deliveredAt } } pageInfo { hasNextPage endCursor } } }`;

/** The admin webhook fields, each refused to users and anonymous callers in test/security/webhooks.test.ts. */
export const WEBHOOK_ADMIN_FIELDS = [
  'adminWebhooks',
  'adminWebhookDeliveries',
  'adminCreateWebhook',
  'adminUpdateWebhook',
  'adminDeleteWebhook',
  'adminRotateWebhookSecret',
  'adminRedeliverWebhook',
];
