import { useGraphQLSSE } from '@graphql-yoga/plugin-graphql-sse';
import type { Plugin, YogaLogger } from 'graphql-yoga';
import type { RealtimeLimits } from '../config/policies.ts';
import type { ClientIpResolver } from '../platform/client-ip.ts';
import type { ErrorCompleter } from './errors.ts';
import { completedResult, refusalResponse, refusingOperationsWithoutData } from './transports/sse-refusals.ts';
import { createStreamReservations } from './transports/sse-reservations.ts';
import type { ServerContext } from './yoga.ts';

// GraphQL over Server-Sent Events on /graphql, both modes of the protocol the graphql-sse client
// speaks. Distinct connections (POST with `Accept: text/event-stream`) are served by yoga itself;
// single-connection mode (PUT reserves a stream, GET ?token= opens it, POSTs carrying the
// X-GraphQL-Event-Stream-Token header run operations on it) by the graphql-sse plugin, which
// runs every operation through yoga's envelop like the other transports. Which streams exist, who
// holds them and for how long is decided here (transports/sse-reservations.ts), not by the plugin.
// An operation refused before it runs is answered on its POST in API.md's error model, and every
// streamed result's errors go through the completer HTTP and WebSocket use (transports/sse-refusals.ts).

const STREAM_TOKEN_HEADER = 'x-graphql-event-stream-token';

export function isSingleConnectionSSE(request: Request): boolean {
  if (request.method === 'PUT') return true;
  if (request.headers.has(STREAM_TOKEN_HEADER)) return true;
  return request.method === 'GET' && new URL(request.url).searchParams.has('token');
}

interface Options {
  limits: RealtimeLimits;
  clientIp: ClientIpResolver;
  completeError: ErrorCompleter;
}

type HandlerRequest = { method: string; url: string; headers: { get(name: string): string | null }; raw: Request };

export function useServerSentEvents({ limits, clientIp, completeError }: Options): Plugin {
  let logger: YogaLogger | undefined;
  let fetchAPI: { Request: typeof Request } | undefined;
  /** The node request and response behind each request the plugin sees. */
  const origins = new WeakMap<Request, ServerContext>();
  /** The requests by which the server itself releases a reservation. */
  const internal = new WeakSet<Request>();

  const tokenOf = (req: HandlerRequest) =>
    req.headers.get(STREAM_TOKEN_HEADER) ?? new URL(req.url, 'http://localhost/').searchParams.get('token');

  const reservations = createStreamReservations({
    limits,
    // The handler keeps its streams to itself; opening one with an already aborted request is its
    // own way of disposing of it (and of the operations queued on it).
    release: async (token) => {
      const request = new fetchAPI!.Request('http://localhost/graphql', {
        method: 'GET',
        headers: { accept: 'text/event-stream', [STREAM_TOKEN_HEADER]: token },
        signal: AbortSignal.abort(),
      });
      internal.add(request);
      await plugin.onRequest?.({
        request,
        serverContext: {},
        endResponse: (response: Response) => void response.body?.cancel().catch(() => {}),
      } as never);
    },
    onReleaseError: (err) => logger?.warn('releasing an event stream reservation failed', err),
  });

  const plugin = useGraphQLSSE({
    endpoint: '/graphql',
    authenticate(req) {
      const request = req as unknown as HandlerRequest;
      if (request.method === 'PUT') {
        const origin = origins.get(request.raw);
        const ip = origin?.req ? clientIp(origin.req.socket.remoteAddress, request.headers.get('x-forwarded-for')) : null;
        return reservations.reserve(ip);
      }
      const token = tokenOf(request);
      if (token === null) return null;
      reservations.check(token, { internal: internal.has(request.raw) });
      return token;
    },
    onConnect(req) {
      const request = req as unknown as HandlerRequest;
      const token = tokenOf(request);
      if (token === null || internal.has(request.raw)) return;
      const res = origins.get(request.raw)?.res;
      reservations.opening(token, (forget) => {
        // `close` comes however the response ends; the request's signal only when it is cut short.
        if (res) res.once('close', forget);
        else request.raw.signal.addEventListener('abort', forget, { once: true });
      });
    },
    onNext: (_ctx, _req, result) => completedResult(result, completeError),
  });

  return {
    ...plugin,
    onYogaInit(payload) {
      logger = payload.yoga.logger;
      fetchAPI = payload.yoga.fetchAPI;
      return plugin.onYogaInit?.({ ...payload, yoga: refusingOperationsWithoutData(payload.yoga) });
    },
    onRequest(payload) {
      if (!isSingleConnectionSSE(payload.request)) return;
      origins.set(payload.request, payload.serverContext as unknown as ServerContext);
      // The graphql-sse handler parses the query and runs the context factory (credentials) outside
      // yoga's error handling: what they throw would otherwise be answered 500 with its stack trace.
      return Promise.resolve(plugin.onRequest?.(payload)).catch((err: unknown) =>
        payload.endResponse(refusalResponse(err, { completeError, Response: payload.fetchAPI.Response, logger })),
      );
    },
    onDispose: () => reservations.clear(),
  };
}

/** Whether a Node request opens an event stream (counted in the SSE gauge while it is open). */
export function opensEventStream(headers: { accept?: string | string[] }, method?: string): boolean {
  const accept = Array.isArray(headers.accept) ? headers.accept.join(',') : (headers.accept ?? '');
  return accept.includes('text/event-stream') && (method === 'POST' || method === 'GET');
}
