import SchemaBuilder from '@pothos/core';
import DirectivesPlugin from '@pothos/plugin-directives';
import PrismaPlugin from '@pothos/plugin-prisma';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import './security/rate-limit-plugin.ts';
import type PrismaTypes from '../generated/pothos-types.ts';
import type { RateLimitKey } from '../kernel/rate-limit-rules.ts';
import { getDatamodel } from '../generated/pothos-types.ts';
import { forbidden, secondFactorRequired } from '../kernel/errors.ts';
import { transportErrors } from './transports/transport-errors.ts';
import type { GraphQLContext } from './context.ts';

// Plugins and their options only; types live with their features under src/modules/.
export const builder = new SchemaBuilder<{
  Context: GraphQLContext;
  PrismaTypes: PrismaTypes;
  // settled: not waiting for a second factor (anonymous callers too); pending: a session that has
  // given its first factor only. Every root field requires `settled` (its type's scope) unless it
  // declares `pending`: a pending session reaches those fields and nothing else.
  AuthScopes: { user: boolean; admin: boolean; settled: boolean; pending: boolean };
  Scalars: { DateTime: { Input: Date; Output: Date } };
  DefaultFieldNullability: false;
  Directives: {
    rateLimit: { locations: 'FIELD_DEFINITION'; args: { limit: number; window: string; by: RateLimitKey[] } };
  };
}>({
  // rateLimit first: a limit counts every execution, before the auth scopes are checked.
  plugins: ['rateLimit', ScopeAuthPlugin, DirectivesPlugin, PrismaPlugin],
  defaultFieldNullability: false,
  scopeAuth: {
    authorizeOnSubscribe: true,
    authScopes: (ctx) => {
      const pending = ctx.viewer?.session.secondFactorPending === true;
      return { user: ctx.viewer !== null && !pending, admin: !pending && ctx.viewer?.user.role === 'ADMIN', settled: !pending, pending };
    },
    // A pending session is told what it owes; anonymous callers learn they must sign in; signed-in
    // callers that lack a role are forbidden.
    unauthorizedError: (_parent, ctx) => {
      if (ctx.viewer?.session.secondFactorPending) return secondFactorRequired();
      return ctx.viewer ? forbidden() : transportErrors.mustSignIn();
    },
  },
  prisma: {
    client: (ctx) => ctx.db,
    dmmf: getDatamodel(),
    exposeDescriptions: false,
    onUnusedQuery: null,
  },
});

builder.queryType({ authScopes: { settled: true } });
builder.mutationType({ authScopes: { settled: true } });
builder.subscriptionType({ authScopes: { settled: true } });
