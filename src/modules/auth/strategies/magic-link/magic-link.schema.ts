import { builder } from '../../../../graphql/builder.ts';
import { fieldPolicy } from '../../../../graphql/security/field-policy.ts';
import { rateLimits } from '../../../../graphql/security/rate-limit.ts';
import { AuthPayload, signedIn } from '../../auth.schema.ts';

const RequestMagicLinkInput = builder.inputType('RequestMagicLinkInput', {
  fields: (t) => ({ email: t.string({ required: true }) }),
});

const LoginWithMagicLinkInput = builder.inputType('LoginWithMagicLinkInput', {
  fields: (t) => ({ email: t.string({ required: true }), token: t.string({ required: true }) }),
});

builder.mutationField('requestMagicLink', (t) =>
  t.boolean({
    extensions: fieldPolicy({ sensitive: true, silentPerEmailLimit: true }),
    description: 'Emails FRONTEND_URL/auth/magic-link?email=…&token=… (10 minutes, single use). Always true.',
    directives: rateLimits('30/1h:IP', '3/15m:EMAIL'),
    args: { input: t.arg({ type: RequestMagicLinkInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      await ctx.services.magicLink.request(input.email);
      return true;
    },
  }),
);

builder.mutationField('loginWithMagicLink', (t) =>
  t.field({
    extensions: fieldPolicy({ sensitive: true }),
    type: AuthPayload,
    description: 'Signs in with the token of a magic link; creates the account (email verified) on first use',
    directives: rateLimits('30/15m:IP'),
    args: { input: t.arg({ type: LoginWithMagicLinkInput, required: true }) },
    resolve: async (_root, { input }, ctx) => signedIn(ctx, await ctx.services.magicLink.login(input, ctx.client)),
  }),
);
