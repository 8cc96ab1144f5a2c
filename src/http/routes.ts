import type { GraphQLSchema } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Config } from '../config/env.ts';
import type { Services } from '../core.ts';
import type { ClientIpResolver } from '../platform/client-ip.ts';
import type { Logger } from '../platform/logger.ts';
import type { Metrics } from '../platform/metrics.ts';
import { useAccountPages } from './use-account-pages.ts';
import { useBodyLimit } from './use-body-limit.ts';
import { useContentType } from './use-content-type.ts';
import { useDevOutbox } from './use-dev-outbox.ts';
import { useGraphiQLAssets } from './use-graphiql.ts';
import { useJwks } from './use-jwks.ts';
import { useMetricsAccess } from './use-metrics-access.ts';
import { useOAuthCallback } from './use-oauth-callback.ts';
import { useReadiness, type ReadinessChecks } from './use-readiness.ts';

export interface RouteDeps {
  config: Config;
  services: Services;
  log: Logger;
  metrics: Metrics;
  clientIp: ClientIpResolver;
  readiness: ReadinessChecks;
  schema: GraphQLSchema;
}

/**
 * Every HTTP route beside GraphQL, in the order yoga tries them, ahead of GraphQL's own plugins:
 * the routes that answer GETs of their own first, then the refusals of a body GraphQL must not read.
 */
export function httpRoutes({ config, services, log, metrics, clientIp, readiness, schema }: RouteDeps): Plugin[] {
  return [
    useReadiness(log, readiness),
    useMetricsAccess(log, { registry: metrics.registry, token: config.metricsToken, production: config.production }),
    useOAuthCallback(log, services.oauth, clientIp),
    useJwks(log, services.accessTokens),
    ...(config.devOutbox ? [useDevOutbox(log, services.mail)] : []),
    useBodyLimit(log, config.graphqlLimits.maxBodyBytes),
    useContentType(log),
    ...(config.graphiql ? [useGraphiQLAssets()] : []),
    ...(config.accountPages ? [useAccountPages({ config, schema })] : []),
  ] as Plugin[];
}
