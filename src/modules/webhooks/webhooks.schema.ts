import { builder } from '../../graphql/builder.ts';
import { PageInfo } from '../../graphql/connection.ts';
import type { GraphQLContext } from '../../graphql/context.ts';
import type { WebhookDelivery as DeliveryRow } from '../../generated/prisma/client.ts';
import type { Page } from '../../kernel/pagination.ts';
import type { Actor } from '../admin/admin-guard.ts';
import type { WebhookView } from './webhooks.service.ts';

// The admin webhook fields of API.md, each `authScopes: { admin: true }` like the other admin fields.

const actor = (ctx: GraphQLContext): Actor => ({ userId: ctx.viewer!.user.id, client: ctx.client });

const Webhook = builder.objectRef<WebhookView>('Webhook').implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    url: t.exposeString('url'),
    events: t.exposeStringList('events'),
    description: t.exposeString('description', { nullable: true }),
    enabled: t.exposeBoolean('enabled'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    failureCount: t.exposeInt('failureCount', { description: 'Failed attempts since the last success' }),
  }),
});

const WebhookWithSecret = builder.objectRef<{ webhook: WebhookView; secret: string }>('WebhookWithSecret').implement({
  fields: (t) => ({
    webhook: t.field({ type: Webhook, resolve: (v) => v.webhook }),
    secret: t.exposeString('secret', { description: 'Shown once: store it in the receiver' }),
  }),
});

const WebhookDeliveryStatus = builder.enumType('WebhookDeliveryStatus', { values: ['PENDING', 'DELIVERED', 'FAILED'] as const });

const WebhookDelivery = builder.objectRef<DeliveryRow>('WebhookDelivery').implement({
  fields: (t) => ({
    id: t.exposeID('id', { description: 'The webhook-id header, the same on every attempt' }),
    event: t.exposeString('event'),
    status: t.field({ type: WebhookDeliveryStatus, resolve: (d) => d.status }),
    attempts: t.exposeInt('attempts', { description: 'HTTP requests made' }),
    responseStatus: t.exposeInt('responseStatus', { nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    deliveredAt: t.expose('deliveredAt', { type: 'DateTime', nullable: true }),
  }),
});

const WebhookDeliveryEdge = builder.objectRef<Page<DeliveryRow>['nodes'][number]>('WebhookDeliveryEdge').implement({
  fields: (t) => ({
    cursor: t.exposeString('cursor'),
    node: t.field({ type: WebhookDelivery, resolve: (edge) => edge.node }),
  }),
});

const WebhookDeliveryConnection = builder.objectRef<Page<DeliveryRow>>('WebhookDeliveryConnection').implement({
  fields: (t) => ({
    edges: t.field({ type: [WebhookDeliveryEdge], resolve: (page) => page.nodes }),
    pageInfo: t.field({ type: PageInfo, resolve: (page) => page }),
  }),
});

const AdminCreateWebhookInput = builder.inputType('AdminCreateWebhookInput', {
  fields: (t) => ({ url: t.string({ required: true }), events: t.stringList({ required: true }), description: t.string() }),
});
const AdminUpdateWebhookInput = builder.inputType('AdminUpdateWebhookInput', {
  fields: (t) => ({ url: t.string(), events: t.stringList(), description: t.string(), enabled: t.boolean() }),
});

builder.queryField('adminWebhooks', (t) =>
  t.field({ type: [Webhook], authScopes: { admin: true }, resolve: (_root, _args, ctx) => ctx.services.webhooks.list() }),
);

builder.queryField('adminWebhookDeliveries', (t) =>
  t.field({
    type: WebhookDeliveryConnection,
    authScopes: { admin: true },
    description: 'Deliveries of one webhook, newest first; `first` at most 100 (default 20)',
    args: { webhookId: t.arg.id({ required: true }), first: t.arg.int(), after: t.arg.string() },
    resolve: (_root, args, ctx) => ctx.services.webhooks.deliveries(String(args.webhookId), args.first, args.after),
  }),
);

builder.mutationField('adminCreateWebhook', (t) =>
  t.field({
    type: WebhookWithSecret,
    authScopes: { admin: true },
    description: 'Subscribes a URL to events; the signing secret is in this answer only',
    args: { input: t.arg({ type: AdminCreateWebhookInput, required: true }) },
    resolve: (_root, { input }, ctx) => ctx.services.webhooks.create(actor(ctx), input),
  }),
);

builder.mutationField('adminUpdateWebhook', (t) =>
  t.field({
    type: Webhook,
    authScopes: { admin: true },
    args: { id: t.arg.id({ required: true }), input: t.arg({ type: AdminUpdateWebhookInput, required: true }) },
    resolve: (_root, { id, input }, ctx) => ctx.services.webhooks.update(actor(ctx), String(id), input),
  }),
);

builder.mutationField('adminDeleteWebhook', (t) =>
  t.boolean({
    authScopes: { admin: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => ctx.services.webhooks.remove(actor(ctx), String(id)),
  }),
);

builder.mutationField('adminRotateWebhookSecret', (t) =>
  t.field({
    type: WebhookWithSecret,
    authScopes: { admin: true },
    description: 'Replaces the signing secret at once; the new one is in this answer only',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => ctx.services.webhooks.rotateSecret(actor(ctx), String(id)),
  }),
);

builder.mutationField('adminRedeliverWebhook', (t) =>
  t.boolean({
    authScopes: { admin: true },
    description: 'Sends a delivery again under the same webhook-id',
    args: { deliveryId: t.arg.id({ required: true }) },
    resolve: (_root, { deliveryId }, ctx) => ctx.services.webhooks.redeliver(actor(ctx), String(deliveryId)),
  }),
);
