import {
  DirectiveLocation, GraphQLDirective, GraphQLEnumType, GraphQLInt, GraphQLList, GraphQLNonNull, GraphQLString,
  type GraphQLFieldResolver, type GraphQLResolveInfo, type GraphQLSchema,
} from 'graphql';
import { parseRule, rateLimitKeys, type RateLimitRule } from '../../modules/rate-limit/rate-limit-rules.ts';
import { rateLimited } from '../../modules/rate-limit/rate-limit.service.ts';
import { builder } from '../builder.ts';
import type { GraphQLContext } from '../context.ts';

// `@rateLimit(limit, window, by)` declares a field's default limits in the schema itself; the
// resolver of every such field is wrapped so each execution counts, whatever the transport, and
// however many aliases ask for it. RATE_LIMITS may replace the defaults per operation.

builder.enumType('RateLimitKey', {
  description: 'What a rate limit counts per: the client IP, the email in the input, or the signed-in user',
  values: rateLimitKeys,
});

/**
 * Mail requests answer `true` whatever the address; past their per-email limit they still do,
 * and send nothing, so a limit never tells which addresses have accounts.
 */
const silentPerEmail = (field: string, rule: RateLimitRule) =>
  field.startsWith('request') && rule.by.length === 1 && rule.by[0] === 'EMAIL';

/** `directives: rateLimits('10/15m:IP+EMAIL', '100/15m:IP')` on a field. */
export function rateLimits(...rules: string[]) {
  return rules.map((text) => ({ name: 'rateLimit' as const, args: parseRule(text) }));
}

export function rateLimitDirective(keyType: GraphQLEnumType): GraphQLDirective {
  return new GraphQLDirective({
    name: 'rateLimit',
    description: 'At most `limit` executions per `window` (30s, 15m, 1h, 1d), counted per the `by` keys together',
    locations: [DirectiveLocation.FIELD_DEFINITION],
    isRepeatable: true,
    args: {
      limit: { type: new GraphQLNonNull(GraphQLInt) },
      window: { type: new GraphQLNonNull(GraphQLString) },
      by: { type: new GraphQLNonNull(new GraphQLList(new GraphQLNonNull(keyType))) },
    },
  });
}

/**
 * Wraps the resolver of every root field once, on the built schema: a field counts under its
 * declared @rateLimit rules, or under the rules RATE_LIMITS gives for it (which may also limit a
 * field that declares none). Fields with neither go straight to their resolver.
 */
export function enforceRateLimits(schema: GraphQLSchema): void {
  for (const root of [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()]) {
    for (const field of Object.values(root?.getFields() ?? {})) {
      const declared = (field.extensions.directives ?? []) as Array<{ name: string; args: RateLimitRule }>;
      const defaults = declared.filter((d) => d.name === 'rateLimit').map((d) => d.args);
      const wrap = (original: GraphQLFieldResolver<unknown, GraphQLContext> | undefined) => {
        const resolve = original ?? ((source: unknown) => (source as Record<string, unknown> | null)?.[field.name]);
        return async (source: unknown, args: Record<string, unknown>, ctx: GraphQLContext, info: GraphQLResolveInfo) => {
          const rules = ctx.services.rateLimits.rulesFor(field.name, defaults);
          if (rules.length) {
            const input = (args.input ?? args) as { email?: unknown };
            const refusal = await ctx.services.rateLimits.check(field.name, rules, {
              ip: ctx.client.ipAddress,
              email: typeof input.email === 'string' ? input.email : null,
              userId: ctx.viewer?.user.id ?? null,
            });
            if (refusal && silentPerEmail(field.name, refusal.rule)) return true;
            if (refusal) throw rateLimited(refusal);
          }
          return resolve(source, args, ctx, info);
        };
      };
      // A subscription counts when it is started, not per event.
      if (root === schema.getSubscriptionType()) field.subscribe = wrap(field.subscribe as never) as never;
      else field.resolve = wrap(field.resolve as never);
    }
  }
}
