import { builder } from '../../graphql/builder.ts';
import { rateLimits } from '../../graphql/security/rate-limit.ts';
import type { IssuedAccessToken } from './access-tokens.service.ts';

const IssueAccessTokenInput = builder.inputType('IssueAccessTokenInput', {
  fields: (t) => ({
    audience: t.string({ description: 'The `aud` claim: the service the token is for (default: PUBLIC_URL)' }),
  }),
});

const AccessToken = builder.objectRef<IssuedAccessToken>('AccessToken').implement({
  description: 'A JWT signed with ES256; verify it against /.well-known/jwks.json',
  fields: (t) => ({
    token: t.exposeString('token', { description: 'Send to the other service as `Authorization: Bearer <token>`' }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime' }),
  }),
});

builder.mutationField('issueAccessToken', (t) =>
  t.field({
    type: AccessToken,
    authScopes: { user: true },
    directives: rateLimits('60/15m:USER'),
    description: 'A short-lived access token (ACCESS_TOKEN_TTL) for the services behind Portcullis',
    args: { input: t.arg({ type: IssueAccessTokenInput }) },
    resolve: (_root, { input }, ctx) => ctx.services.accessTokens.issue(ctx.viewer!, input ?? {}),
  }),
);
