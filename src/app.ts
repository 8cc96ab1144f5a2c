import { createServer, type Server } from 'node:http';
import type { DestinationStream } from 'pino';
import type { Config } from './config/env.ts';
import { createErrorCompleter } from './graphql/errors.ts';
import { attachWebSocketServer } from './graphql/websocket.ts';
import { opensEventStream } from './graphql/sse.ts';
import { createGraphQLServer } from './graphql/yoga.ts';
import { refuseNonJsonBody, refuseOversizedBody, serveMetrics, serveProbe } from './http-routes.ts';
import { createClientIpResolver } from './platform/client-ip.ts';
import { systemClock, type Clock } from './platform/clock.ts';
import { createCore } from './core.ts';
import { pingDb } from './platform/db.ts';
import { serveDevOutbox } from './modules/mail/dev-outbox.route.ts';
import { serveOAuthCallback } from './modules/oauth/oauth.routes.ts';
import { createLogger, type Logger } from './platform/logger.ts';
import { pingRedis } from './platform/redis.ts';
import { requestIdFrom, requestScope } from './platform/request-scope.ts';
import { createServices } from './services.ts';

/** How often open sockets and streams are checked for sessions that ended without an event. */
const SWEEP_INTERVAL_MS = 30_000;
/** How long a graceful shutdown waits for requests in flight. */
const DRAIN_MS = 5_000;

export interface AppOptions {
  config: Config;
  /** Resolved by the caller (main starts an embedded PostgreSQL when DATABASE_URL is unset). */
  databaseUrl: string;
  clock?: Clock;
  log?: Logger;
  logDestination?: DestinationStream;
}

export interface App {
  server: Server;
  log: Logger;
  services: ReturnType<typeof createServices>;
  /**
   * Closes the WebSockets and ends the SSE streams whose session has ended without a revocation
   * (expiry, deleted user). A timer runs it; tests call it after moving the clock.
   */
  closeEndedSessions(): Promise<number>;
  listen(port?: number, host?: string): Promise<string>;
  close(): Promise<void>;
}

/** The composition root: adapters, services, GraphQL and HTTP routes. Starts nothing by itself. */
export function createApp({ config, databaseUrl, clock = systemClock, log: givenLog, logDestination }: AppOptions): App {
  const log = givenLog ?? createLogger(config.logLevel, logDestination);
  const core = createCore({ config, databaseUrl, clock, log });
  const { db, redis, metrics, events, services } = core;
  const clientIp = createClientIpResolver(config.trustProxy);
  const completeError = createErrorCompleter(log, { hideSuggestions: config.production });
  const yoga = createGraphQLServer({ config, db, services, log, metrics, clientIp, completeError });
  const probes = {
    checks: { database: () => pingDb(db), ...(redis && { redis: () => pingRedis(redis) }) },
  };

  const server = createServer((req, res) => {
    const requestId = requestIdFrom(req.headers['x-request-id']);
    res.setHeader('X-Request-Id', requestId);
    requestScope.run({ requestId }, async () => {
      try {
        const path = (req.url ?? '/').split('?')[0]!;
        if (await serveProbe(req, res, path, probes)) return;
        if (await serveMetrics(req, res, path, { registry: metrics.registry, token: config.metricsToken, production: config.production })) return;
        if (await serveOAuthCallback(req, res, path, services.oauth, clientIp)) return;
        if (path === '/dev/outbox' && req.method === 'GET' && config.devOutbox) return await serveDevOutbox(req, res, services.mail);
        if (refuseOversizedBody(req, res, config.graphqlLimits.maxBodyBytes, requestId)) return;
        if (refuseNonJsonBody(req, res, requestId)) return;
        if (opensEventStream(req.headers, req.method)) {
          metrics.sseStreams.inc();
          res.once('close', () => metrics.sseStreams.dec());
        }
        await yoga.handle(req, res, { req, res });
      } catch (err) {
        log.error({ err, requestId }, 'request failed');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ message: 'Unexpected error.', extensions: { code: 'INTERNAL_SERVER_ERROR', requestId } }] }));
      }
    });
  });

  const websocket = attachWebSocketServer({ server, yoga, config, services, log, clock, clientIp, completeError, events, metrics });
  const closeEndedSessions = async () =>
    (await websocket.closeEndedSessions()) + (await services.revocationFeed.endExpired());
  const sweep = setInterval(() => void closeEndedSessions().catch((err) => log.warn({ err }, 'session sweep failed')), SWEEP_INTERVAL_MS);
  sweep.unref();

  return {
    server,
    log,
    services,
    closeEndedSessions,
    async listen(port = config.port, host = config.host) {
      // The job queue first: requests may enqueue mail as soon as the port is open.
      await core.startJobs(config.runWorkers);
      return new Promise<string>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          const address = server.address();
          const actualPort = typeof address === 'object' && address ? address.port : port;
          resolve(`http://${host === '0.0.0.0' ? 'localhost' : host}:${actualPort}`);
        });
      });
    },
    async close() {
      // Stop accepting, let in-flight requests finish, then release the pool and Redis.
      clearInterval(sweep);
      await websocket.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        // Connections still open after the drain period (streams, stalled clients) are cut.
        setTimeout(() => server.closeAllConnections(), DRAIN_MS).unref();
      });
      await core.close();
    },
  };
}
