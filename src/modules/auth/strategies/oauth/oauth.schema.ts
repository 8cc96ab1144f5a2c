import { builder } from '../../../../graphql/builder.ts';
import { fieldPolicy } from '../../../../graphql/security/field-policy.ts';
import { rateLimits } from '../../../../graphql/security/rate-limit.ts';
import { AuthPayload, signedIn } from '../../auth.schema.ts';
import type { OAuthProviderInfo } from './oauth.service.ts';

const OAuthProvider = builder.objectRef<OAuthProviderInfo>('OAuthProvider').implement({
  description: 'A configured OAuth / OpenID Connect provider',
  fields: (t) => ({
    id: t.exposeString('id', { description: 'Pass as `provider` to startOAuth' }),
    name: t.exposeString('name'),
  }),
});

const OAuthStart = builder.objectRef<{ authorizationUrl: string }>('OAuthStart').implement({
  fields: (t) => ({
    authorizationUrl: t.exposeString('authorizationUrl', { description: "Send the browser here: the provider's sign-in page" }),
  }),
});

const StartOAuthInput = builder.inputType('StartOAuthInput', {
  fields: (t) => ({
    provider: t.string({ required: true, description: 'An id from oauthProviders' }),
    redirectTo: t.string({
      required: true,
      description: 'Where the callback sends the browser back, with oauth_code or oauth_error: under FRONTEND_URL or ALLOWED_REDIRECTS',
    }),
    codeChallenge: t.string({
      required: true,
      description:
        'base64url (no padding) SHA-256 of a random codeVerifier (43-128 characters) the frontend keeps for this attempt, e.g. in sessionStorage: it binds the sign-in to this browser',
    }),
  }),
});

const CompleteOAuthInput = builder.inputType('CompleteOAuthInput', {
  fields: (t) => ({
    code: t.string({ required: true, description: 'The oauth_code from the callback redirect' }),
    codeVerifier: t.string({
      required: true,
      description:
        'The codeVerifier whose SHA-256 was given to startOAuth: another one gives TOKEN_INVALID and uses the code up; a malformed one is BAD_USER_INPUT',
    }),
  }),
});

builder.queryField('oauthProviders', (t) =>
  t.field({
    type: [OAuthProvider],
    description: 'The configured OAuth / OpenID Connect providers',
    resolve: (_root, _args, ctx) => ctx.services.oauth.providers(),
  }),
);

builder.mutationField('startOAuth', (t) =>
  t.field({
    type: OAuthStart,
    directives: rateLimits('30/15m:IP'),
    description: 'Begins a sign-in with a provider; the callback later redirects to redirectTo',
    args: { input: t.arg({ type: StartOAuthInput, required: true }) },
    resolve: (_root, { input }, ctx) => ctx.services.oauth.start(input.provider, input.redirectTo, input.codeChallenge),
  }),
);

builder.mutationField('completeOAuth', (t) =>
  t.field({
    extensions: fieldPolicy({ sensitive: true }),
    type: AuthPayload,
    directives: rateLimits('30/15m:IP'),
    description: 'Trades the one-time oauth_code (60 s) from the callback redirect, with the codeVerifier of this browser, for a session',
    args: { input: t.arg({ type: CompleteOAuthInput, required: true }) },
    resolve: async (_root, { input }, ctx) => signedIn(ctx, await ctx.services.oauth.complete(input.code, input.codeVerifier, ctx.client)),
  }),
);
