import { printSchemaWithDirectives } from '@graphql-tools/utils';
import { GraphQLEnumType, GraphQLSchema, lexicographicSortSchema } from 'graphql';
import { builder } from './builder.ts';
import './scalars.ts';
import { rateLimitDirective } from './security/rate-limit.ts';
import '../modules/sessions/sessions.schema.ts';
import '../modules/users/users.schema.ts';
import '../modules/auth/auth.schema.ts';
import '../modules/auth/strategies/password/password.schema.ts';
import '../modules/auth/strategies/magic-link/magic-link.schema.ts';
import '../modules/auth/strategies/email-code/email-code.schema.ts';
import '../modules/recovery/recovery.schema.ts';
import '../modules/verification/verification.schema.ts';
import '../modules/auth/strategies/oauth/oauth.schema.ts';
import '../modules/admin/admin.schema.ts';
import '../modules/audit/audit.schema.ts';
import '../modules/webhooks/webhooks.schema.ts';
import '../modules/access-tokens/access-tokens.schema.ts';
import '../modules/auth/second-factor/second-factor.schema.ts';
import '../modules/auth/strategies/passkey/passkey.schema.ts';

let schema: GraphQLSchema | undefined;

/** Built once per process and shared by every app instance. */
export function getSchema(): GraphQLSchema {
  if (schema) return schema;
  const built = builder.toSchema({ sortSchema: true });
  const keyType = built.getType('RateLimitKey') as GraphQLEnumType;
  schema = new GraphQLSchema({ ...built.toConfig(), directives: [...built.getDirectives(), rateLimitDirective(keyType)] });
  return schema;
}

/**
 * The committed schema.graphql: sorted so diffs stay readable, with the directives applied to
 * fields, and directive arguments in their declared order (limit, window, by).
 */
export function printedSchema(): string {
  const sorted = lexicographicSortSchema(getSchema());
  const keyType = sorted.getType('RateLimitKey') as GraphQLEnumType;
  const printable = new GraphQLSchema({
    ...sorted.toConfig(),
    directives: sorted.getDirectives().map((d) => (d.name === 'rateLimit' ? rateLimitDirective(keyType) : d)),
  });
  // Directives are read from AST nodes only; Pothos also keeps a copy in extensions.
  return `${printSchemaWithDirectives(printable, { pathToDirectivesInExtensions: ['astNodeOnly'] })}\n`;
}
