import { createServer, type Server, type ServerResponse } from 'node:http';
import type { DestinationStream } from 'pino';
import type { Config } from './config/env.ts';
import { createErrorCompleter } from './graphql/errors.ts';
import { attachWebSocketServer } from './graphql/websocket.ts';
import { opensEventStream } from './graphql/sse.ts';
import { createGraphQLServer } from './graphql/yoga.ts';
import { createClientIpResolver } from './platform/client-ip.ts';
import { systemClock, type Clock } from './platform/clock.ts';
import { createCore } from './core.ts';
import { pingDb } from './platform/db.ts';
import { createLogger, type Logger } from './platform/logger.ts';
import { pingRedis } from './platform/redis.ts';
import { requestIdFrom, requestScope } from './platform/request-scope.ts';
import { createServices } from './core.ts';
import { toErrorBody, UNEXPECTED_MESSAGE } from './kernel/errors.ts';
import { HEALTH_PATH, READY_PATH } from './http/use-readiness.ts';

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
  const readiness = { database: () => pingDb(db), ...(redis && { redis: () => pingRedis(redis) }) };
  const yoga = createGraphQLServer({ config, db, services, log, metrics, clientIp, completeError, readiness });

  // Draining: from the signal on, every new request (on a kept-alive connection; the listener is
  // closed) is refused before it runs, /ready included, and the handlers in flight finish first.
  let stopping = false;
  const inFlight = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    const requestId = requestIdFrom(req.headers['x-request-id']);
    res.setHeader('X-Request-Id', requestId);
    if (stopping) return refuseWhileStopping(req.url ?? '/', res, requestId);
    requestScope.run({ requestId }, async () => {
      try {
        // Every route is a yoga plugin (http/routes.ts). A stream is open-ended: the drain does not wait for it.
        if (opensEventStream(req.headers, req.method)) {
          metrics.sseStreams.inc();
          res.once('close', () => metrics.sseStreams.dec());
        } else {
          trackUntilClosed(inFlight, res);
        }
        await yoga.handle(req, res, { req, res });
      } catch (err) {
        log.error({ err, requestId }, 'request failed');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify(toErrorBody('INTERNAL_SERVER_ERROR', UNEXPECTED_MESSAGE, { requestId })));
      }
    });
  });

  const websocket = attachWebSocketServer({
    server,
    yoga,
    config,
    services,
    log,
    clock,
    clientIp,
    completeError,
    sessionWatch: services.sessionWatch,
    metrics,
  });
  /** One query for every watched session, WebSockets and SSE streams alike. */
  const closeEndedSessions = () => services.sessionWatch.sweep();
  // Revocations published while Redis was away reached no one: re-check as soon as it is back.
  const stopRecheckOnReconnect = events.onReconnected(() => {
    void closeEndedSessions()
      .then((closed) => log.info({ closed }, 'redis back: watched sessions re-checked'))
      .catch((err) => log.warn({ err }, 'session re-check failed'));
  });
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
          logEffectiveUrls(log, config);
          resolve(`http://${host === '0.0.0.0' ? 'localhost' : host}:${actualPort}`);
        });
      });
    },
    async close() {
      // Refuse new requests, let those in flight finish (their connections close after the answer),
      // then cut what is left (idle connections, SSE streams) and release the pool and Redis.
      stopping = true;
      clearInterval(sweep);
      stopRecheckOnReconnect();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      for (const res of inFlight) if (!res.headersSent) res.setHeader('Connection', 'close');
      await Promise.all([websocket.close(), settled(inFlight, DRAIN_MS)]);
      server.closeAllConnections();
      await closed;
      await core.close();
    },
  };
}

/**
 * Answers a request that arrived after the shutdown began, before anything of it runs: 503, and the
 * connection closes after it. Probes get their own shape; the rest the error envelope (retry).
 */
function refuseWhileStopping(url: string, res: ServerResponse, requestId: string): void {
  const path = url.split('?')[0];
  // Liveness stays true while draining (the process is fine, it is leaving); readiness does not.
  if (path === HEALTH_PATH) {
    res.writeHead(200, { 'content-type': 'application/json', connection: 'close' });
    res.end(JSON.stringify({ status: 'ok' }));
    return;
  }
  const refusal = toErrorBody('INTERNAL_SERVER_ERROR', 'The server is shutting down; retry.', { requestId, status: 503, retryAfter: 1 });
  const body = JSON.stringify(path === READY_PATH ? { status: 'stopping' } : refusal);
  res.writeHead(503, { 'content-type': 'application/json', connection: 'close', 'retry-after': '1' });
  res.end(body);
}

/** Once at start: the URLs every default was derived from (PORT, PUBLIC_URL, FRONTEND_URL), on one line. */
function logEffectiveUrls(log: Logger, config: Config): void {
  log.info(
    {
      publicUrl: config.publicUrl,
      frontendUrl: config.frontendUrl,
      corsOrigins: config.corsOrigins,
      oauthRedirectUri: `${config.publicUrl}/oauth/callback`,
      accountPages: config.accountPages ? `${config.publicUrl}/` : false,
      devOutbox: config.devOutbox ? `${config.publicUrl}/dev/outbox` : false,
    },
    'effective URLs',
  );
}

function trackUntilClosed(inFlight: Set<ServerResponse>, res: ServerResponse): void {
  inFlight.add(res);
  res.once('close', () => inFlight.delete(res));
}

/** Resolves once every response in `inFlight` has closed, or after `ms`. */
async function settled(inFlight: Set<ServerResponse>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (inFlight.size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}
