import { builder } from '../../graphql/builder.ts';
import type { GraphQLContext } from '../../graphql/context.ts';
import { PageInfo } from '../../graphql/connection.ts';
import { Role } from '../../graphql/scalars.ts';
import { Session } from '../sessions/sessions.schema.ts';
import { User } from '../users/users.schema.ts';
import type { Actor, AdminUserView, UserPage } from './admin.service.ts';

// The admin* fields of API.md. Each one declares `authScopes: { admin: true }`: scope-auth refuses
// anyone else before the resolver runs (UNAUTHENTICATED anonymously, FORBIDDEN when signed in),
// so nothing below checks roles. What an admin may do to whom is the service's business.

/** The signed-in admin performing the operation, for the rules and the audit log. */
const actor = (ctx: GraphQLContext): Actor => ({ userId: ctx.viewer!.user.id, client: ctx.client });

export const AdminUser = builder.objectRef<AdminUserView>('AdminUser').implement({
  fields: (t) => ({
    user: t.field({ type: User, resolve: (v) => v.user }),
    locked: t.boolean({ description: 'Whether sign-in is refused with LOCKED now', resolve: (v) => v.lock !== null }),
    lockedUntil: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'When the current lock ends; null when not locked, or locked until an admin unlocks',
      resolve: (v) => v.lock?.until ?? null,
    }),
    lockReason: t.string({ nullable: true, resolve: (v) => v.lock?.reason ?? null }),
    failedLoginCount: t.int({
      description: 'Failed passwords counted against the address now; past a few, password sign-ins are throttled',
      resolve: (v) => v.failedLoginCount,
    }),
    sessions: t.field({ type: [Session], description: 'Live sessions, newest first', resolve: (v) => v.sessions }),
    oauthProviders: t.stringList({ description: 'Ids of the linked OAuth/OIDC providers', resolve: (v) => v.oauthProviders }),
  }),
});

const UserEdge = builder.objectRef<UserPage['nodes'][number]>('UserEdge').implement({
  fields: (t) => ({
    cursor: t.exposeString('cursor'),
    node: t.field({ type: User, resolve: (edge) => edge.node }),
  }),
});

const UserConnection = builder.objectRef<UserPage>('UserConnection').implement({
  fields: (t) => ({
    edges: t.field({ type: [UserEdge], resolve: (page) => page.nodes }),
    pageInfo: t.field({ type: PageInfo, resolve: (page) => page }),
    totalCount: t.exposeInt('totalCount', { description: 'Users matching the filters, on every page' }),
  }),
});

const AdminCreateUserInput = builder.inputType('AdminCreateUserInput', {
  fields: (t) => ({
    email: t.string({ required: true }),
    password: t.string({ description: 'Optional: without it the account is passwordless' }),
    name: t.string(),
    role: t.field({ type: Role, description: 'Default: ADMIN for ADMIN_EMAILS, else USER' }),
    emailVerified: t.boolean({ description: 'Default: false' }),
  }),
});

const AdminUpdateUserInput = builder.inputType('AdminUpdateUserInput', {
  fields: (t) => ({
    name: t.string({ description: 'null or an empty string clears the name; left out, it is kept' }),
    role: t.field({ type: Role }),
    emailVerified: t.boolean(),
  }),
});

builder.queryField('adminUsers', (t) =>
  t.field({
    type: UserConnection,
    authScopes: { admin: true },
    description: 'Users, newest first; `query` matches part of the email or name; `first` at most 100 (default 20)',
    args: { first: t.arg.int(), after: t.arg.string(), query: t.arg.string(), role: t.arg({ type: Role }) },
    resolve: (_root, args, ctx) => ctx.services.admin.listUsers(args),
  }),
);

builder.queryField('adminUser', (t) =>
  t.field({
    type: AdminUser,
    nullable: true,
    authScopes: { admin: true },
    description: 'One user by id or exact email (give one of them); null when there is none',
    args: { id: t.arg.id(), email: t.arg.string() },
    resolve: (_root, { id, email }, ctx) => ctx.services.admin.findUser({ id: id == null ? null : String(id), email }),
  }),
);

builder.mutationField('adminCreateUser', (t) =>
  t.field({
    type: User,
    authScopes: { admin: true },
    description: 'Creates an account; a taken email is CONFLICT',
    args: { input: t.arg({ type: AdminCreateUserInput, required: true }) },
    resolve: (_root, { input }, ctx) => ctx.services.admin.createUser(actor(ctx), input),
  }),
);

builder.mutationField('adminUpdateUser', (t) =>
  t.field({
    type: User,
    authScopes: { admin: true },
    description: 'Changes name, role or emailVerified. Nobody demotes themselves or the last active admin.',
    args: { id: t.arg.id({ required: true }), input: t.arg({ type: AdminUpdateUserInput, required: true }) },
    resolve: (_root, { id, input }, ctx) => ctx.services.admin.updateUser(actor(ctx), String(id), input),
  }),
);

builder.mutationField('adminLockUser', (t) =>
  t.field({
    type: AdminUser,
    authScopes: { admin: true },
    description: 'Locks the account (until `until`, or until unlocked) and revokes its sessions (USER_LOCKED)',
    args: { id: t.arg.id({ required: true }), until: t.arg({ type: 'DateTime' }), reason: t.arg.string() },
    resolve: (_root, { id, until, reason }, ctx) => ctx.services.admin.lockUser(actor(ctx), String(id), { until, reason }),
  }),
);

builder.mutationField('adminUnlockUser', (t) =>
  t.field({
    type: AdminUser,
    authScopes: { admin: true },
    description: 'Lifts the lock and forgets the failed passwords counted against the address',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => ctx.services.admin.unlockUser(actor(ctx), String(id)),
  }),
);

builder.mutationField('adminDeleteUser', (t) =>
  t.boolean({
    authScopes: { admin: true },
    description: 'Revokes the sessions (USER_DELETED) and deletes the user, its tokens and identities',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => ctx.services.admin.deleteUser(actor(ctx), String(id)),
  }),
);

builder.mutationField('adminRevokeSessions', (t) =>
  t.int({
    authScopes: { admin: true },
    description: 'Revokes every live session of the user (REVOKED_BY_ADMIN); returns how many',
    args: { userId: t.arg.id({ required: true }) },
    resolve: (_root, { userId }, ctx) => ctx.services.admin.revokeSessions(actor(ctx), String(userId)),
  }),
);
