import SchemaBuilder, { BasePlugin, type PothosOutputFieldConfig, type SchemaTypes } from '@pothos/core';
import type { GraphQLFieldResolver } from 'graphql';
import type { GraphQLContext } from '../context.ts';
import { policyOf } from './field-policy.ts';
import { limitedResolver } from './rate-limit.ts';

// Wraps every root field's resolver (or subscribe) while Pothos builds the schema, from what the
// field declares: its @rateLimit directives and its fieldPolicy. The built schema is never edited.

const ROOT_KINDS = new Set(['Query', 'Mutation', 'Subscription']);

type Resolver = GraphQLFieldResolver<unknown, object, object>;

export class RateLimitPlugin<Types extends SchemaTypes> extends BasePlugin<Types> {
  private limited(resolve: Resolver, config: PothosOutputFieldConfig<Types>): Resolver {
    const directives = (config.pothosOptions as { directives?: Array<{ name: string; args: unknown }> }).directives ?? [];
    const field = { name: config.name, directives, silentPerEmailLimit: policyOf(config).silentPerEmailLimit === true };
    return limitedResolver(field, resolve as GraphQLFieldResolver<unknown, GraphQLContext>) as Resolver;
  }

  override wrapResolve(resolve: Resolver, config: PothosOutputFieldConfig<Types>): Resolver {
    if (!ROOT_KINDS.has(config.kind) || config.kind === 'Subscription') return resolve;
    return this.limited(resolve, config);
  }

  override wrapSubscribe(subscribe: Resolver | undefined, config: PothosOutputFieldConfig<Types>): Resolver | undefined {
    if (config.kind !== 'Subscription' || !subscribe) return subscribe;
    return this.limited(subscribe, config);
  }
}

declare global {
  export namespace PothosSchemaTypes {
    interface Plugins<Types extends SchemaTypes> {
      rateLimit: RateLimitPlugin<Types>;
    }
  }
}

SchemaBuilder.registerPlugin('rateLimit', RateLimitPlugin);
