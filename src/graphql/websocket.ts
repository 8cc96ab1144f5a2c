import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { GraphQLError, type DocumentNode, type ExecutionArgs, type ExecutionResult } from 'graphql';
import type { Context, SubscribePayload } from 'graphql-ws';
import { useServer, type Extra } from 'graphql-ws/use/ws';
import { map } from 'graphql-yoga';
import { WebSocketServer } from 'ws';
import type { Config } from '../config/env.ts';
import { AppError } from '../kernel/errors.ts';
import { transportErrors } from './transports/transport-errors.ts';
import type { Viewer } from '../modules/sessions/sessions.service.ts';
import type { ClientInfo } from '../kernel/client.ts';
import type { ClientIpResolver } from '../platform/client-ip.ts';
import type { Clock } from '../platform/clock.ts';
import type { SessionWatch } from './transports/session-watch.ts';
import type { Logger } from '../platform/logger.ts';
import type { Metrics } from '../platform/metrics.ts';
import { requestScope } from '../platform/request-scope.ts';
import type { Services } from '../core.ts';
import { SESSION_COOKIE_NAME, readCookie, resolveViewer } from './credentials.ts';
import { fromAppError, unexpectedError, type ErrorCompleter } from './errors.ts';
import { clientKey, createAddressCounter, createMessageBudget } from './transports/connection-limits.ts';
import { createOriginRefusalLog } from './transports/origin-refusals.ts';
import { createSocketSessions, type SocketSession } from './transports/socket-session.ts';
import type { GraphQLServer } from './yoga.ts';

// graphql-ws (graphql-transport-ws) on the HTTP server's port and path. Every operation goes
// through yoga.getEnveloped(), so the validation rules, limits, masking and rate limits of HTTP
// apply unchanged. Credentials come once, in connection_init; the session is checked again on
// every subscribe (transports/socket-session.ts). Close codes: 4401 subscribe before ack, 4403 bad
// credentials, 4408 no init within 3 s, 4429 a second init (graphql-ws's own) or too many
// messages. Limits (config.realtimeLimits): sockets per client address (HTTP 429 at the upgrade),
// operations open at once per socket (RATE_LIMITED on the one past it), messages per socket.

type ConnectionState = {
  session?: SocketSession;
  viewer?: Viewer | null;
  client?: ClientInfo;
  stopWatching?: () => void;
  /** The turn of the event loop in which this socket's latest operation is prepared. */
  turn?: Promise<void>;
};

/** Grace between delivering a revocation to the socket's subscriptions and closing it. */
const CLOSE_GRACE_MS = 50;
/** How long a socket closed for flooding may take to finish its close handshake. */
const FLOOD_CLOSE_MS = 1000;

interface Deps {
  server: Server;
  yoga: GraphQLServer;
  config: Config;
  services: Services;
  log: Logger;
  clock: Clock;
  clientIp: ClientIpResolver;
  completeError: ErrorCompleter;
  /** Ends the sockets of ended sessions (shared with the SSE streams). */
  sessionWatch: SessionWatch;
  metrics: Metrics;
}

type SocketContext = Context<Record<string, unknown>, Extra & Partial<ConnectionState>>;

type Roots = { execute: (args: ExecutionArgs) => unknown; subscribe: (args: ExecutionArgs) => unknown };

export function attachWebSocketServer({ server, yoga, config, services, log, clock, clientIp, completeError, sessionWatch, metrics }: Deps) {
  const limits = config.realtimeLimits;
  const wss = new WebSocketServer({ noServer: true, maxPayload: config.graphqlLimits.maxBodyBytes });
  const socketsPerAddress = createAddressCounter(limits.maxSocketsPerAddress);
  const socketSessions = createSocketSessions({ sessions: services.sessions, clock, recheckMs: limits.sessionRecheckMs });
  const logOriginRefusal = createOriginRefusalLog(log, clock, config.corsOrigins);
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (req.url ?? '').split('?')[0];
    const origin = req.headers.origin;
    // Browsers always send Origin; servers and native apps may not, and are let through.
    if (path !== '/graphql' || (origin && !config.corsOrigins.includes(origin))) {
      if (path === '/graphql' && origin) logOriginRefusal(origin);
      socket.end(`HTTP/1.1 ${path === '/graphql' ? '403 Forbidden' : '404 Not Found'}\r\nConnection: close\r\n\r\n`);
      return;
    }
    // Counted from the upgrade to the end of the TCP connection, whether or not the handshake succeeds.
    const key = clientKey(clientIp(req.socket.remoteAddress, headerValue(req.headers['x-forwarded-for'])));
    if (!socketsPerAddress.tryAcquire(key)) {
      socket.end('HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    socket.once('close', () => socketsPerAddress.release(key));
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  };
  server.on('upgrade', onUpgrade);
  wss.on('connection', (socket) => {
    metrics.wsConnections.inc();
    // Registered before graphql-ws's own listener: a message past the budget closes the socket
    // before it is handled, and operations on a closing socket are refused at once (onSubscribe).
    const withinBudget = createMessageBudget(limits.maxMessagesPerWindow, limits.messageWindowMs);
    let cutOff: NodeJS.Timeout | undefined;
    socket.on('message', () => {
      if (withinBudget() || socket.readyState !== socket.OPEN) return;
      socket.close(4429, 'Too many messages');
      cutOff = setTimeout(() => socket.terminate(), FLOOD_CLOSE_MS);
    });
    socket.once('close', () => {
      clearTimeout(cutOff);
      metrics.wsConnections.dec();
    });
  });

  const closeForbidden = (state: { socket: { close(code: number, reason: string): void } }, reason: string) => state.socket.close(4403, reason);

  /**
   * Closes the socket (4403) once its session ends: right after its own revocation, heard on
   * whichever instance (a short grace lets the revocation event reach the socket's own
   * subscribers first), or when a sweep finds it ended without one.
   */
  function watchOwnSession(state: ConnectionState & { socket: { close(code: number, reason: string): void } }, viewer: Viewer) {
    state.stopWatching = sessionWatch.watch(viewer, (reason) => {
      // From now on no subscribe passes, during the grace too.
      if (state.session) state.session.revoked = true;
      if (reason === 'revoked') setTimeout(() => closeForbidden(state, 'Session revoked'), CLOSE_GRACE_MS);
      else closeForbidden(state, 'Session ended');
    });
  }

  /** The socket already has its share of operations open (graphql-ws has recorded this one among them). */
  const tooManyOperations = (ctx: SocketContext) => Object.keys(ctx.subscriptions).length > limits.maxOperationsPerSocket;
  function tooManyOperationsError(): GraphQLError {
    return fromAppError(transportErrors.operationsPerSocket(limits.maxOperationsPerSocket));
  }

  const completeResult = (result: ExecutionResult): ExecutionResult =>
    result.errors?.length ? { ...result, errors: result.errors.map(completeError) } : result;

  const run = (requestId: string, work: () => unknown) =>
    requestScope.run({ requestId }, async () => {
      const result = await work();
      if (result && typeof result === 'object' && Symbol.asyncIterator in result) {
        return map(completeResult)(result as AsyncIterable<ExecutionResult>);
      }
      return completeResult(result as ExecutionResult);
    });

  /** Re-checks the session, then parses and validates through yoga's envelop like HTTP does. */
  async function prepare(ctx: SocketContext, payload: SubscribePayload, requestId: string) {
    if (ctx.extra.session) {
      const viewer = await socketSessions.current(ctx.extra.session);
      if (!viewer) {
        ctx.extra.socket.close(4403, 'Forbidden');
        return [completeError(new GraphQLError('The session has ended', { extensions: { code: 'UNAUTHENTICATED' } }))];
      }
      ctx.extra.viewer = viewer;
    }
    const enveloped = yoga.getEnveloped({
      req: ctx.extra.request,
      socketOperation: { requestId, viewer: ctx.extra.viewer ?? null, client: ctx.extra.client! },
    });
    let document: DocumentNode;
    try {
      document = enveloped.parse(payload.query);
    } catch (err) {
      return [completeError(err instanceof GraphQLError ? err : new GraphQLError('Invalid query'))];
    }
    const errors = enveloped.validate(enveloped.schema, document);
    if (errors.length) return errors.map(completeError);
    return {
      schema: enveloped.schema,
      document,
      operationName: payload.operationName,
      variableValues: payload.variables,
      contextValue: await enveloped.contextFactory(),
      rootValue: { execute: enveloped.execute, subscribe: enveloped.subscribe },
    } as ExecutionArgs;
  }

  const disposable = useServer<Record<string, unknown>, ConnectionState>(
    {
      connectionInitWaitTimeout: 3000,
      execute: (args) => run(requestIdOf(args), () => (args.rootValue as Roots).execute(args)) as never,
      subscribe: (args) => run(requestIdOf(args), () => (args.rootValue as Roots).subscribe(args)) as never,
      onConnect: async (ctx) => {
        const req = ctx.extra.request;
        const authorization = ctx.connectionParams?.authorization;
        const cookie = config.sessionCookie ? (req.headers.cookie ?? null) : null;
        // A credential that is not a string is a bad one, not an absent one (no anonymous downgrade).
        if (authorization != null && typeof authorization !== 'string') return false;
        try {
          const { viewer } = await resolveViewer(
            { authorization: typeof authorization === 'string' ? authorization : null, cookie, method: 'GET', csrfHeader: null },
            services.sessions,
            config.sessionCookie,
          );
          // A stale cookie on the upgrade request is as bad as a stale bearer token here.
          if (!viewer && cookie && readCookie(cookie, SESSION_COOKIE_NAME)) return false;
          ctx.extra.viewer = viewer;
          if (viewer) {
            const token = typeof authorization === 'string' ? authorization.replace(/^Bearer\s+/, '') : readCookie(cookie, SESSION_COOKIE_NAME);
            ctx.extra.session = socketSessions.open(token ?? '', viewer);
            watchOwnSession(ctx.extra as never, viewer);
          }
          ctx.extra.client = {
            ipAddress: clientIp(req.socket.remoteAddress, headerValue(req.headers['x-forwarded-for'])),
            userAgent: headerValue(req.headers['user-agent']),
          };
          return true;
        } catch (err) {
          if (err instanceof AppError) return false;
          // The database (say) failed: not the client's credentials, so not 4403.
          log.error({ err, requestId: randomUUID() }, 'websocket connection_init failed');
          ctx.extra.socket.close(4500, 'Internal server error');
          return false;
        }
      },
      onSubscribe: async (ctx, _id, payload) => {
        // Flooded or revoked: what is still in the socket's buffers costs nothing (no answer can be sent).
        if (isClosing(ctx)) return CLOSING;
        const requestId = randomUUID();
        return requestScope.run({ requestId }, async () => {
          // Counted now, answered in its turn like the others (a refusal is work too).
          const refused = tooManyOperations(ctx);
          await nextTurn(ctx.extra);
          if (isClosing(ctx)) return CLOSING;
          if (refused) return [completeError(tooManyOperationsError())];
          return prepare(ctx, payload, requestId).catch((err) => {
            log.error({ err, requestId }, 'unexpected error');
            return [completeError(unexpectedError(undefined, requestId))];
          });
        });
      },
      onClose: (ctx) => {
        ctx.extra.stopWatching?.();
      },
      onError: (ctx, _id, _payload, errors) => {
        if (!isClosing(ctx)) log.debug({ errors: errors.map((e) => e.message) }, 'websocket operation error');
      },
    },
    wss,
  );

  return {
    wss,
    async close() {
      server.off('upgrade', onUpgrade);
      for (const client of wss.clients) client.close(1001, 'Going away');
      await disposable.dispose();
    },
  };
}

/**
 * Resolves in a later turn of the event loop than the socket's previous operation: a burst of
 * messages on one socket is prepared one per turn, and other clients are served in between.
 */
function nextTurn(state: ConnectionState): Promise<void> {
  const turn = (state.turn ?? Promise.resolve()).then(() => new Promise<void>((resolve) => setImmediate(resolve)));
  state.turn = turn;
  return turn;
}

const isClosing = (ctx: SocketContext) => ctx.extra.socket.readyState !== ctx.extra.socket.OPEN;
const CLOSING = [new GraphQLError('The connection is closing')];

const requestIdOf = (args: ExecutionArgs) => (args.contextValue as { requestId?: string }).requestId ?? randomUUID();

function headerValue(value: string | string[] | undefined): string | null {
  return (Array.isArray(value) ? value[0] : value) ?? null;
}
