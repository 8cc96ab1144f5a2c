import { builder } from '../../graphql/builder.ts';
import { PageInfo } from '../../graphql/connection.ts';
import type { AuditRecord } from './audit.service.ts';
import type { Page } from '../../kernel/pagination.ts';

// The audit log for admins: paged newest first, and live from every instance.

export const AuditEvent = builder.objectRef<AuditRecord>('AuditEvent').implement({
  description: 'One entry of the security log',
  fields: (t) => ({
    id: t.exposeID('id'),
    type: t.exposeString('type', { description: 'e.g. login.succeeded, login.failed, user.registered, session.revoked, user.locked' }),
    userId: t.exposeID('userId', { nullable: true, description: 'The user the event is about' }),
    actorId: t.exposeID('actorId', { nullable: true, description: 'Who acted, when not the user itself (an admin)' }),
    ipAddress: t.exposeString('ipAddress', { nullable: true }),
    userAgent: t.exposeString('userAgent', { nullable: true }),
    data: t.exposeString('data', { nullable: true, description: 'Details as JSON text' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

const AuditEventEdge = builder.objectRef<Page<AuditRecord>['nodes'][number]>('AuditEventEdge').implement({
  fields: (t) => ({
    cursor: t.exposeString('cursor'),
    node: t.field({ type: AuditEvent, resolve: (edge) => edge.node }),
  }),
});

const AuditEventConnection = builder.objectRef<Page<AuditRecord>>('AuditEventConnection').implement({
  fields: (t) => ({
    edges: t.field({ type: [AuditEventEdge], resolve: (page) => page.nodes }),
    pageInfo: t.field({ type: PageInfo, resolve: (page) => page }),
  }),
});

builder.queryField('adminAuditEvents', (t) =>
  t.field({
    type: AuditEventConnection,
    authScopes: { admin: true },
    description: 'The audit log, newest first; `first` at most 100 (default 20)',
    args: {
      first: t.arg.int(),
      after: t.arg.string(),
      userId: t.arg.id({ description: 'Only events about this user' }),
      actorId: t.arg.id({ description: 'Only events by this actor (an admin)' }),
      type: t.arg.string({ description: 'Only events of this type, e.g. login.failed' }),
    },
    resolve: (_root, args, ctx) =>
      ctx.services.audit.list({
        first: args.first,
        after: args.after,
        userId: args.userId == null ? null : String(args.userId),
        actorId: args.actorId == null ? null : String(args.actorId),
        type: args.type,
      }),
  }),
);

builder.subscriptionField('adminAuditFeed', (t) =>
  t.field({
    type: AuditEvent,
    authScopes: { admin: true },
    description: 'Every new audit event, from every instance; ends when the subscriber stops being an admin',
    subscribe: (_root, _args, ctx) => ctx.services.auditFeed.eventsFor(ctx.viewer!),
    resolve: (event) => event,
  }),
);
