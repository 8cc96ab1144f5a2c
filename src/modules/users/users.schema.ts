import { builder } from '../../graphql/builder.ts';
import { Role } from '../../graphql/scalars.ts';

export const User = builder.prismaObject('User', {
  fields: (t) => ({
    id: t.exposeID('id'),
    email: t.exposeString('email'),
    emailVerified: t.exposeBoolean('emailVerified'),
    name: t.exposeString('name', { nullable: true }),
    role: t.expose('role', { type: Role }),
    hasPassword: t.boolean({ resolve: (user) => user.passwordHash !== null }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

const UpdateProfileInput = builder.inputType('UpdateProfileInput', {
  fields: (t) => ({ name: t.string({ description: 'null or an empty string clears the name' }) }),
});

builder.queryField('me', (t) =>
  t.field({
    type: User,
    nullable: true,
    // Also for a session that still owes its second factor: the page asking for it shows whose it is.
    skipTypeScopes: true,
    authScopes: { settled: true, pending: true },
    description: 'The signed-in user; null when not signed in',
    resolve: (_root, _args, ctx) => ctx.viewer?.user ?? null,
  }),
);

builder.mutationField('updateProfile', (t) =>
  t.field({
    type: User,
    authScopes: { user: true },
    args: { input: t.arg({ type: UpdateProfileInput, required: true }) },
    resolve: (_root, { input }, ctx) => ctx.services.users.updateProfile(ctx.viewer!.user.id, input),
  }),
);
