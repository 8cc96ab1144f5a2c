import { builder } from '../../graphql/builder.ts';
import { AuthMethod, RevocationReason } from '../../graphql/scalars.ts';
import type { SessionRevocation } from './sessions.service.ts';

export const Session = builder.prismaObject('Session', {
  fields: (t) => ({
    id: t.exposeID('id'),
    current: t.boolean({
      description: 'True for the session making this request',
      resolve: (session, _args, ctx) => ctx.viewer?.session.id === session.id,
    }),
    method: t.expose('method', { type: AuthMethod }),
    ipAddress: t.exposeString('ipAddress', { nullable: true }),
    userAgent: t.exposeString('userAgent', { nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    lastSeenAt: t.expose('lastSeenAt', { type: 'DateTime' }),
    expiresAt: t.field({
      type: 'DateTime',
      description: 'When the session ends unless used again: the earlier of its idle and absolute limits',
      resolve: (session, _args, ctx) => ctx.services.sessions.effectiveExpiry(session),
    }),
  }),
});

const SessionRevokedEvent = builder.objectRef<SessionRevocation>('SessionRevokedEvent').implement({
  fields: (t) => ({
    sessionId: t.exposeID('sessionId'),
    userId: t.exposeID('userId'),
    reason: t.field({ type: RevocationReason, resolve: (e) => e.reason as typeof RevocationReason.$inferType }),
    revokedAt: t.expose('revokedAt', { type: 'DateTime' }),
  }),
});

builder.subscriptionField('sessionRevoked', (t) =>
  t.field({
    type: SessionRevokedEvent,
    authScopes: { user: true },
    description:
      "Every revocation of any session of the subscriber's user, from any instance. When the revoked session is " +
      "the subscriber's own, the event is delivered, then the WebSocket is closed with 4403 (SSE: the stream ends).",
    subscribe: (_root, _args, ctx) => ctx.services.revocationFeed.revocationsFor(ctx.viewer!),
    resolve: (event) => event,
  }),
);

builder.queryField('mySessions', (t) =>
  t.field({
    type: [Session],
    authScopes: { user: true },
    description: "The signed-in user's live sessions, newest first",
    resolve: (_root, _args, ctx) => ctx.services.sessions.listLive(ctx.viewer!.user.id),
  }),
);

builder.mutationField('logout', (t) =>
  t.boolean({
    // A pending session may give up instead of giving its second factor.
    skipTypeScopes: true,
    authScopes: { user: true, pending: true },
    description: 'Revokes the current session',
    resolve: async (_root, _args, ctx) => {
      const { user, session } = ctx.viewer!;
      await ctx.services.sessions.revokeOne(user.id, session.id, 'LOGOUT', { client: ctx.client });
      ctx.setSessionCookie(null);
      return true;
    },
  }),
);

builder.mutationField('revokeSession', (t) =>
  t.boolean({
    authScopes: { user: true },
    description: "Revokes one of the caller's own live sessions; false when the id is not one of them",
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => ctx.services.sessions.revokeOne(ctx.viewer!.user.id, String(id), 'REVOKED_BY_USER', { client: ctx.client }),
  }),
);

builder.mutationField('revokeOtherSessions', (t) =>
  t.int({
    authScopes: { user: true },
    description: 'Revokes every session of the caller but the current one; returns how many',
    resolve: (_root, _args, ctx) => ctx.services.sessions.revokeOthers(ctx.viewer!.user, ctx.viewer!.session.id, 'REVOKED_BY_USER', { client: ctx.client }),
  }),
);
