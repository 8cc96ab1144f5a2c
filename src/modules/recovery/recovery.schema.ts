import { builder } from '../../graphql/builder.ts';
import { fieldPolicy } from '../../graphql/security/field-policy.ts';
import { rateLimits } from '../../graphql/security/rate-limit.ts';

const RequestPasswordResetInput = builder.inputType('RequestPasswordResetInput', {
  fields: (t) => ({ email: t.string({ required: true }) }),
});

const ResetPasswordInput = builder.inputType('ResetPasswordInput', {
  fields: (t) => ({ token: t.string({ required: true }), newPassword: t.string({ required: true }) }),
});

builder.mutationField('requestPasswordReset', (t) =>
  t.boolean({
    extensions: fieldPolicy({ sensitive: true, silentPerEmailLimit: true }),
    description:
      'Emails FRONTEND_URL/auth/reset-password?token=… (15 minutes, single use; a newer request voids older links) ' +
      'when the address has an account. Always true.',
    directives: rateLimits('30/1h:IP', '3/15m:EMAIL'),
    args: { input: t.arg({ type: RequestPasswordResetInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      await ctx.services.recovery.request(input.email);
      return true;
    },
  }),
);

builder.mutationField('resetPassword', (t) =>
  t.boolean({
    extensions: fieldPolicy({ sensitive: true }),
    description: 'Sets the password, revokes every session of the user, and does not sign in',
    directives: rateLimits('30/15m:IP'),
    args: { input: t.arg({ type: ResetPasswordInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      await ctx.services.recovery.reset(input, ctx.client);
      return true;
    },
  }),
);
