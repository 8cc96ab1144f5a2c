import { lexicographicSortSchema, printSchema, type GraphQLSchema } from 'graphql';
import { builder } from './builder.ts';
import './scalars.ts';
import '../modules/sessions/sessions.schema.ts';
import '../modules/users/users.schema.ts';
import '../modules/password/password.schema.ts';

let schema: GraphQLSchema | undefined;

/** Built once per process and shared by every app instance. */
export function getSchema(): GraphQLSchema {
  schema ??= builder.toSchema({ sortSchema: true });
  return schema;
}

/** The committed schema.graphql: sorted, so diffs stay readable. */
export function printedSchema(): string {
  return `${printSchema(lexicographicSortSchema(getSchema()))}\n`;
}
