import {
  DirectiveLocation,
  GraphQLDirective,
  GraphQLEnumType,
  GraphQLInt,
  GraphQLList,
  GraphQLNonNull,
  GraphQLString,
  type GraphQLFieldResolver,
} from 'graphql';
import { parseRule, type RateLimitRule } from '../../kernel/rate-limit-rules.ts';
import { sharedErrors } from '../../kernel/errors.ts';
import type { GraphQLContext } from '../context.ts';

// `@rateLimit(limit, window, by)` declares a field's default limits in the schema itself; the
// resolver of every root field is wrapped when the schema is built (the rate-limit plugin of
// graphql/builder.ts), so each execution counts, whatever the transport, and however many aliases
// ask for it. RATE_LIMITS may replace the defaults per operation.

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
 * The resolver of a root field, counted: under its declared @rateLimit rules, or under the rules
 * RATE_LIMITS gives for it (which may also limit a field that declares none). Fields with neither
 * go straight to their resolver. A subscription counts when it is started, not per event.
 */
export function limitedResolver(
  field: { name: string; directives: ReadonlyArray<{ name: string; args: unknown }>; silentPerEmailLimit: boolean },
  resolve: GraphQLFieldResolver<unknown, GraphQLContext>,
): GraphQLFieldResolver<unknown, GraphQLContext> {
  const defaults = field.directives.filter((d) => d.name === 'rateLimit').map((d) => d.args as RateLimitRule);
  return async (source, args, ctx, info) => {
    const rules = ctx.services.rateLimits.rulesFor(field.name, defaults);
    if (rules.length) {
      const input = (args.input ?? args) as { email?: unknown };
      const refusal = await ctx.services.rateLimits.check(field.name, rules, {
        ip: ctx.client.ipAddress,
        email: typeof input.email === 'string' ? input.email : null,
        userId: ctx.viewer?.user.id ?? null,
      });
      // Only a per-email refusal stays silent: a per-IP one is the caller's own business.
      const perEmailOnly = refusal && refusal.rule.by.length === 1 && refusal.rule.by[0] === 'EMAIL';
      if (perEmailOnly && field.silentPerEmailLimit) return true;
      if (refusal) throw sharedErrors.tooManyAttempts(refusal.retryAfter);
    }
    return resolve(source, args, ctx, info);
  };
}
