import { builder } from '../../../../graphql/builder.ts';
import { fieldPolicy } from '../../../../graphql/security/field-policy.ts';
import { rateLimits } from '../../../../graphql/security/rate-limit.ts';
import { AuthPayload, signedIn } from '../../auth.schema.ts';

const LoginInput = builder.inputType('LoginInput', {
  fields: (t) => ({ email: t.string({ required: true }), password: t.string({ required: true }) }),
});

const ChangePasswordInput = builder.inputType('ChangePasswordInput', {
  fields: (t) => ({
    currentPassword: t.string({ description: 'Required when the account already has a password' }),
    newPassword: t.string({ required: true }),
  }),
});

builder.mutationField('login', (t) =>
  t.field({
    extensions: fieldPolicy({ sensitive: true }),
    type: AuthPayload,
    directives: rateLimits('10/15m:IP+EMAIL', '100/15m:IP'),
    args: { input: t.arg({ type: LoginInput, required: true }) },
    resolve: async (_root, { input }, ctx) => signedIn(ctx, await ctx.services.password.login(input, ctx.client)),
  }),
);

builder.mutationField('changePassword', (t) =>
  t.boolean({
    authScopes: { user: true },
    directives: rateLimits('10/15m:USER'),
    description: "Sets a new password and revokes the user's other sessions",
    args: { input: t.arg({ type: ChangePasswordInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      await ctx.services.password.changePassword(ctx.viewer!, input, ctx.client);
      return true;
    },
  }),
);
