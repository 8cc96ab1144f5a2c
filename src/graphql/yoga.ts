import type { IncomingMessage, ServerResponse } from 'node:http';
import { usePrometheus } from '@graphql-yoga/plugin-prometheus';
import { createYoga } from 'graphql-yoga';
import type { Config } from '../config.ts';
import type { Db } from '../platform/db.ts';
import type { ClientIpResolver } from '../platform/client-ip.ts';
import type { Logger } from '../platform/logger.ts';
import type { Metrics } from '../platform/metrics.ts';
import { currentRequestId } from '../platform/request-scope.ts';
import type { ClientInfo, Viewer } from '../modules/sessions/sessions.service.ts';
import type { Services } from '../services.ts';
import type { GraphQLContext } from './context.ts';
import { CSRF_HEADER, resolveViewer, sessionCookie } from './credentials.ts';
import { createErrorMasker, useErrorExtensions, type ErrorCompleter } from './errors.ts';
import { getSchema } from './schema.ts';
import { useHardening } from './security/hardening.ts';
import { useServerSentEvents } from './sse.ts';

/** What a WebSocket operation brings instead of an HTTP request: resolved at connection_init. */
export interface SocketOperation {
  requestId: string;
  viewer: Viewer | null;
  client: ClientInfo;
}

export interface ServerContext {
  req: IncomingMessage;
  res?: ServerResponse;
  socketOperation?: SocketOperation;
}

interface Deps {
  config: Config;
  db: Db;
  services: Services;
  log: Logger;
  metrics: Metrics;
  clientIp: ClientIpResolver;
  completeError: ErrorCompleter;
}

export function createGraphQLServer({ config, db, services, log, metrics, clientIp, completeError }: Deps) {
  return createYoga<ServerContext, GraphQLContext>({
    schema: getSchema(),
    graphqlEndpoint: '/graphql',
    graphiql: config.graphiql ? { title: 'Portcullis' } : false,
    landingPage: false,
    batching: false,
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
      useHardening({
        limits: config.graphqlLimits,
        maxTokens: config.graphqlLimits.maxTokens,
        maxDocumentChars: config.graphqlLimits.maxDocumentChars,
        production: config.production,
      }),
      useErrorExtensions(completeError),
      useServerSentEvents(),
      // No `url` label: it holds the whole query string (GET variables, passwords included) and
      // makes a new series for every distinct URL a client cares to send.
      usePrometheus({ endpoint: '/metrics', registry: metrics.registry, labels: { url: false } }),
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
