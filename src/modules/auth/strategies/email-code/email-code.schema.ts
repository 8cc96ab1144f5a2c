import { builder } from '../../../../graphql/builder.ts';
import { fieldPolicy } from '../../../../graphql/security/field-policy.ts';
import { rateLimits } from '../../../../graphql/security/rate-limit.ts';
import { AuthPayload, signedIn } from '../../auth.schema.ts';

const RequestEmailCodeInput = builder.inputType('RequestEmailCodeInput', {
  fields: (t) => ({ email: t.string({ required: true }) }),
});

const LoginWithEmailCodeInput = builder.inputType('LoginWithEmailCodeInput', {
  fields: (t) => ({ email: t.string({ required: true }), code: t.string({ required: true }) }),
});

builder.mutationField('requestEmailCode', (t) =>
  t.boolean({
    extensions: fieldPolicy({ sensitive: true, silentPerEmailLimit: true }),
    description: 'Emails a 6-digit code (10 minutes, 5 tries) and FRONTEND_URL/auth/email-code?email=…&code=…. Always true.',
    directives: rateLimits('30/1h:IP', '3/15m:EMAIL'),
    args: { input: t.arg({ type: RequestEmailCodeInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      await ctx.services.emailCode.request(input.email);
      return true;
    },
  }),
);

builder.mutationField('loginWithEmailCode', (t) =>
  t.field({
    extensions: fieldPolicy({ sensitive: true }),
    type: AuthPayload,
    description: 'Signs in with a mailed code; creates the account (email verified) on first use',
    directives: rateLimits('30/15m:IP'),
    args: { input: t.arg({ type: LoginWithEmailCodeInput, required: true }) },
    resolve: async (_root, { input }, ctx) => signedIn(ctx, await ctx.services.emailCode.login(input, ctx.client)),
  }),
);
