import { builder } from '../../graphql/builder.ts';
import { fieldPolicy } from '../../graphql/security/field-policy.ts';
import { rateLimits } from '../../graphql/security/rate-limit.ts';
import { User } from '../users/users.schema.ts';

const VerifyEmailInput = builder.inputType('VerifyEmailInput', {
  fields: (t) => ({ token: t.string({ required: true }) }),
});

builder.mutationField('requestEmailVerification', (t) =>
  t.boolean({
    extensions: fieldPolicy({ sensitive: true, silentPerEmailLimit: true }),
    authScopes: { user: true },
    description: 'Emails FRONTEND_URL/auth/verify-email?token=… when the address is not verified yet. Always true.',
    directives: rateLimits('30/1h:IP', '3/15m:USER'),
    resolve: async (_root, _args, ctx) => {
      await ctx.services.verification.requestFor(ctx.viewer!.user);
      return true;
    },
  }),
);

builder.mutationField('verifyEmail', (t) =>
  t.field({
    extensions: fieldPolicy({ sensitive: true }),
    type: User,
    authScopes: { user: true },
    description: "Marks the caller's address verified with the token of the link mailed to it; only from a session of the account the link was sent to",
    directives: rateLimits('30/15m:IP', '10/15m:USER'),
    args: { input: t.arg({ type: VerifyEmailInput, required: true }) },
    resolve: (_root, { input }, ctx) => ctx.services.verification.verify(ctx.viewer!.user.id, input.token, ctx.client),
  }),
);
