import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { GraphQLError, type ExecutionArgs, type ExecutionResult } from 'graphql';
import type { Context, SubscribePayload } from 'graphql-ws';
import { useServer, type Extra } from 'graphql-ws/use/ws';
import { map } from 'graphql-yoga';
import { WebSocketServer } from 'ws';
import type { Config } from '../config.ts';
import { AppError } from '../errors.ts';
import type { ClientInfo, Viewer } from '../modules/sessions/sessions.service.ts';
import type { ClientIpResolver } from '../platform/client-ip.ts';
import type { Events } from '../platform/events.ts';
import type { Logger } from '../platform/logger.ts';
import type { Metrics } from '../platform/metrics.ts';
import { requestScope } from '../platform/request-scope.ts';
import type { Services } from '../services.ts';
import { SESSION_COOKIE_NAME, readCookie, resolveViewer } from './credentials.ts';
import { INTERNAL, type ErrorCompleter } from './errors.ts';
import type { GraphQLServer } from './yoga.ts';

// graphql-ws (graphql-transport-ws) on the HTTP server's port and path. Every operation goes
// through yoga.getEnveloped(), so the validation rules, limits, masking and rate limits of HTTP
// apply unchanged. Credentials come once, in connection_init; the session is checked again on
// every subscribe. Close codes: 4401 subscribe before ack, 4403 bad credentials, 4408 no init
// within 3 s, 4429 a second init (graphql-ws's own).

type ConnectionState = {
  token?: string | null;
  viewer?: Viewer | null;
  client?: ClientInfo;
  stopWatching?: () => void;
};

/** Grace between delivering a revocation to the socket's subscriptions and closing it. */
const CLOSE_GRACE_MS = 50;


interface Deps {
  server: Server;
  yoga: GraphQLServer;
  config: Config;
  services: Services;
  log: Logger;
  clientIp: ClientIpResolver;
  completeError: ErrorCompleter;
  events: Events;
  metrics: Metrics;
}

type SocketContext = Context<Record<string, unknown>, Extra & Partial<ConnectionState>>;

type Roots = { execute: (args: ExecutionArgs) => unknown; subscribe: (args: ExecutionArgs) => unknown };

export function attachWebSocketServer({ server, yoga, config, services, log, clientIp, completeError, events, metrics }: Deps) {
  const wss = new WebSocketServer({ noServer: true, maxPayload: config.graphqlLimits.maxBodyBytes });
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (req.url ?? '').split('?')[0];
    const origin = req.headers.origin;
    // Browsers always send Origin; servers and native apps may not, and are let through.
    if (path !== '/graphql' || (origin && !config.corsOrigins.includes(origin))) {
      socket.end(`HTTP/1.1 ${path === '/graphql' ? '403 Forbidden' : '404 Not Found'}\r\nConnection: close\r\n\r\n`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  };
  server.on('upgrade', onUpgrade);
  wss.on('connection', (socket) => {
    metrics.wsConnections.inc();
    socket.once('close', () => metrics.wsConnections.dec());
  });

  const authenticated = new Set<ConnectionState & { socket: { close(code: number, reason: string): void } }>();
  const closeForbidden = (state: { socket: { close(code: number, reason: string): void } }, reason: string) =>
    state.socket.close(4403, reason);

  /**
   * Closes the connections whose session has ended without a revocation event (expiry, a deleted
   * user): one query for all open connections. Run by the app's sweep timer.
   */
  async function closeEndedSessions(): Promise<number> {
    const open = [...authenticated];
    const live = await services.sessions.liveIds(open.map((state) => state.viewer!.session.id));
    const ended = open.filter((state) => !live.has(state.viewer!.session.id));
    for (const state of ended) {
      authenticated.delete(state);
      closeForbidden(state, 'Session ended');
    }
    return ended.length;
  }

  /** Closes the socket (4403) right after its own session is revoked, on whichever instance. */
  function watchOwnSession(state: ConnectionState & { socket: { close(code: number, reason: string): void } }, viewer: Viewer) {
    const revocations = events.sessionRevoked(viewer.user.id);
    state.stopWatching = () => void revocations.return?.();
    void (async () => {
      for await (const event of revocations) {
        if (event.sessionId !== viewer.session.id) continue;
        authenticated.delete(state);
        setTimeout(() => closeForbidden(state, 'Session revoked'), CLOSE_GRACE_MS);
        return;
      }
    })().catch((err) => log.warn({ err }, 'websocket revocation watch failed'));
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
    if (ctx.extra.viewer) {
      const viewer = await services.sessions.authenticate(ctx.extra.token ?? '');
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
    let document;
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
            authenticated.add(ctx.extra as never);
            watchOwnSession(ctx.extra as never, viewer);
          }
          ctx.extra.token = typeof authorization === 'string' ? authorization.replace(/^Bearer\s+/, '') : readCookie(cookie, SESSION_COOKIE_NAME);
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
        const requestId = randomUUID();
        return requestScope.run({ requestId }, () => prepare(ctx, payload, requestId).catch((err) => {
          log.error({ err, requestId }, 'unexpected error');
          return [completeError(new GraphQLError('Unexpected error.', { extensions: { code: INTERNAL, http: { status: 500 } } }))];
        }));
      },
      onClose: (ctx) => {
        authenticated.delete(ctx.extra as never);
        ctx.extra.stopWatching?.();
      },
      onError: (_ctx, _id, _payload, errors) => {
        log.debug({ errors: errors.map((e) => e.message) }, 'websocket operation error');
      },
    },
    wss,
  );

  return {
    wss,
    closeEndedSessions,
    async close() {
      server.off('upgrade', onUpgrade);
      for (const client of wss.clients) client.close(1001, 'Going away');
      await disposable.dispose();
    },
  };
}

const requestIdOf = (args: ExecutionArgs) => (args.contextValue as { requestId?: string }).requestId ?? randomUUID();

function headerValue(value: string | string[] | undefined): string | null {
  return (Array.isArray(value) ? value[0] : value) ?? null;
}
