import { createLRUCache, createYoga } from 'graphql-yoga';
import type { Config } from '../config/env.ts';
import type { Db } from '../platform/db.ts';
import type { ClientIpResolver } from '../platform/client-ip.ts';
import type { Logger } from '../platform/logger.ts';
import type { Metrics } from '../platform/metrics.ts';
import { currentRequestId } from '../platform/request-scope.ts';
import type { Services } from '../core.ts';
import type { GraphQLContext, ServerContext } from './context.ts';
import { CSRF_HEADER, resolveViewer, sessionCookie } from './credentials.ts';
import { createErrorMasker, useErrorExtensions, type ErrorCompleter } from './errors.ts';
import { getSchema } from './schema.ts';
import { useRequestMetrics } from './request-metrics.ts';
import { useControlCharacterRefusal } from './security/control-characters.ts';
import { useHardening } from './security/hardening.ts';
import { useServerSentEvents } from './sse.ts';
import { graphiqlOptions, renderGraphiQL } from '../http/use-graphiql.ts';
import { httpRoutes } from '../http/routes.ts';
import type { ReadinessChecks } from '../http/use-readiness.ts';

interface Deps {
  config: Config;
  db: Db;
  services: Services;
  log: Logger;
  metrics: Metrics;
  clientIp: ClientIpResolver;
  completeError: ErrorCompleter;
  /** What GET /ready asks, by name. */
  readiness: ReadinessChecks;
}

/** Parsed documents (and parse errors) kept for reuse. */
const PARSED_DOCUMENTS_KEPT = 100;

/** yoga's own probe answers any URL ending in its endpoint, with an empty body; none ends in a space. */
const NO_YOGA_HEALTH_CHECK = ' ';

export function createGraphQLServer({ config, db, services, log, metrics, clientIp, completeError, readiness }: Deps) {
  const schema = getSchema();
  return createYoga<ServerContext, GraphQLContext>({
    schema,
    graphqlEndpoint: '/graphql',
    // GET /health and /ready are ours (http/use-readiness.ts), with the bodies of API.md.
    healthCheckEndpoint: NO_YOGA_HEALTH_CHECK,
    // Served from our own dependencies (no CDN), with the README's first operation as its text.
    graphiql: config.graphiql ? graphiqlOptions : false,
    renderGraphiQL,
    landingPage: false,
    batching: false,
    // The body limit is enforced before the body is read (http/use-body-limit.ts: a declared
    // Content-Length of at most 100 KB, no chunked bodies), so yoga's own limiter,
    // which pipes every body through a transform stream, is left out.
    maxRequestBodySize: false,
    // Parsed documents are kept for reuse, but few: a client's own operations are a handful, and an
    // attacker's stream of fresh large documents must not fill the heap (yoga keeps 1,024 by default).
    parserAndValidationCache: {
      documentCache: createLRUCache({ max: PARSED_DOCUMENTS_KEPT }),
      errorCache: createLRUCache({ max: PARSED_DOCUMENTS_KEPT }),
    },
    cors: { origin: config.corsOrigins, credentials: true },
    maskedErrors: { maskError: createErrorMasker(log) },
    // yoga's own lines carry messages only: a GraphQL error's string form quotes the document,
    // which may hold a password written inline. Operation errors are logged once, with their
    // request id, by the error completer (graphql/errors.ts).
    logging: {
      debug: (...args) => log.debug({ yoga: args.map(describe) }),
      info: (...args) => log.info({ yoga: args.map(describe) }),
      warn: (...args) => log.warn({ yoga: args.map(describe) }),
      error: (...args) => log.debug({ yoga: args.map(describe) }),
    },
    plugins: [
      // The HTTP routes first: a request for one of them never reaches GraphQL.
      ...httpRoutes({ config, services, log, metrics, clientIp, readiness, schema }),
      useHardening({
        limits: config.graphqlLimits,
        maxTokens: config.graphqlLimits.maxTokens,
        maxDocumentChars: config.graphqlLimits.maxDocumentChars,
        production: config.production,
      }),
      useControlCharacterRefusal(),
      useErrorExtensions(completeError),
      useServerSentEvents({ limits: config.realtimeLimits, clientIp, completeError }),
      // Bounded labels only; GET /metrics itself is served by http/use-metrics-access.ts.
      useRequestMetrics(metrics),
    ],
    context: async ({ request, req, res, socketOperation }): Promise<GraphQLContext> => {
      const shared = { services, db };
      if (socketOperation) return { ...shared, ...socketOperation, setSessionCookie: () => {} };
      const { viewer, staleCookie } = await resolveViewer(
        {
          authorization: request.headers.get('authorization'),
          cookie: request.headers.get('cookie'),
          method: request.method,
          csrfHeader: request.headers.get(CSRF_HEADER),
        },
        services.sessions,
        config.sessionCookie,
      );
      const setSessionCookie = (token: string | null, expiresAt?: Date) => {
        if (config.sessionCookie) res?.appendHeader('Set-Cookie', sessionCookie(token, expiresAt));
      };
      if (staleCookie) setSessionCookie(null);
      return {
        ...shared,
        requestId: currentRequestId(),
        viewer,
        client: {
          ipAddress: clientIp(req.socket.remoteAddress, request.headers.get('x-forwarded-for')),
          userAgent: request.headers.get('user-agent'),
        },
        setSessionCookie,
      };
    },
  });
}

const describe = (value: unknown) => (value instanceof Error ? value.message : String(value));

export type GraphQLServer = ReturnType<typeof createGraphQLServer>;
