import SchemaBuilder from '@pothos/core';
import DirectivesPlugin from '@pothos/plugin-directives';
import PrismaPlugin from '@pothos/plugin-prisma';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import type PrismaTypes from '../generated/pothos-types.ts';
import type { RateLimitKey } from '../modules/rate-limit/rate-limit-rules.ts';
import { getDatamodel } from '../generated/pothos-types.ts';
import { forbidden, unauthenticated } from '../errors.ts';
import type { GraphQLContext } from './context.ts';

// Plugins and their options only; types live with their features under src/modules/.
export const builder = new SchemaBuilder<{
  Context: GraphQLContext;
  PrismaTypes: PrismaTypes;
  AuthScopes: { user: boolean; admin: boolean };
  Scalars: { DateTime: { Input: Date; Output: Date } };
  DefaultFieldNullability: false;
  Directives: {
    rateLimit: { locations: 'FIELD_DEFINITION'; args: { limit: number; window: string; by: RateLimitKey[] } };
  };
}>({
  plugins: [ScopeAuthPlugin, DirectivesPlugin, PrismaPlugin, RelayPlugin],
  defaultFieldNullability: false,
  scopeAuth: {
    authorizeOnSubscribe: true,
    authScopes: (ctx) => ({ user: ctx.viewer !== null, admin: ctx.viewer?.user.role === 'ADMIN' }),
    // Anonymous callers learn they must sign in; signed-in callers that lack a role are forbidden.
    unauthorizedError: (_parent, ctx) => (ctx.viewer ? forbidden() : unauthenticated('You must be signed in')),
  },
  prisma: {
    client: (ctx) => ctx.db,
    dmmf: getDatamodel(),
    exposeDescriptions: false,
    onUnusedQuery: null,
  },
  relay: {
    nodeQueryOptions: false,
    nodesQueryOptions: false,
    clientMutationId: 'omit',
    cursorType: 'String',
  },
});

builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});
