import { useGraphQLSSE } from '@graphql-yoga/plugin-graphql-sse';
import type { Plugin, YogaLogger } from 'graphql-yoga';
import type { RealtimeLimits } from '../config/policies.ts';
import { transportErrors } from './transports/transport-errors.ts';
import type { ClientIpResolver } from '../platform/client-ip.ts';
import type { ErrorCompleter } from './errors.ts';
import { clientKey, createAddressCounter } from './transports/connection-limits.ts';
import { completedResult, refusalResponse, refusingOperationsWithoutData } from './transports/sse-refusals.ts';
import { createStreamReservations } from './transports/sse-reservations.ts';
import type { ServerContext } from './context.ts';

// GraphQL over Server-Sent Events on /graphql, both modes of the protocol the graphql-sse client
// speaks. Distinct connections (POST with `Accept: text/event-stream`) are served by yoga itself;
// single-connection mode (PUT reserves a stream, GET ?token= opens it, POSTs carrying the
// X-GraphQL-Event-Stream-Token header run operations on it) by the graphql-sse plugin, which
// runs every operation through yoga's envelop like the other transports. Which streams exist, who
// holds them and for how long is decided here (transports/sse-reservations.ts), not by the plugin;
// so are the operations a stream runs, counted before the plugin records them. Distinct-connection
// streams are counted per client address here, before yoga runs anything. An operation refused
// before it runs is answered on its POST in API.md's error model, and every streamed result's
// errors go through the completer HTTP and WebSocket use (transports/sse-refusals.ts).

const STREAM_TOKEN_HEADER = 'x-graphql-event-stream-token';

export function isSingleConnectionSSE(request: Request): boolean {
  if (request.method === 'PUT') return true;
  if (request.headers.has(STREAM_TOKEN_HEADER)) return true;
  // Only on the GraphQL path: a mailed link's ?token= on another path is not an event stream.
  if (request.method !== 'GET') return false;
  const url = new URL(request.url);
  return url.searchParams.has('token') && url.pathname.replace(/\/$/, '') === '/graphql';
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
  /** What ends each operation counted on a stream, by the request that sent it. */
  const running = new WeakMap<Request, () => void>();
  const distinctStreams = createAddressCounter(limits.maxDistinctSseStreamsPerAddress);
  const refusal = (err: unknown, Response: typeof globalThis.Response) => refusalResponse(err, { completeError, Response, logger });

  const tokenOf = (req: HandlerRequest) => req.headers.get(STREAM_TOKEN_HEADER) ?? new URL(req.url, 'http://localhost/').searchParams.get('token');

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
    onComplete: (_ctx, req) => running.get((req as unknown as HandlerRequest).raw)?.(),
  });

  /**
   * Counts the operation a request sends on a single-connection stream, before the handler records
   * its id. Returns what ends it, or nothing when the request is no operation (opening, PUT,
   * DELETE) or one the handler refuses before recording it (no JSON, an unparsable body).
   */
  async function startOperation(request: Request): Promise<(() => void) | undefined> {
    if (request.method !== 'POST' && request.method !== 'GET') return;
    if ((request.headers.get('accept') || '*/*') === 'text/event-stream') return;
    const token = tokenOf(request as unknown as HandlerRequest);
    if (token === null) return;
    reservations.check(token);
    const id = await operationIdOf(request);
    return id === null ? undefined : reservations.startOperation(token, id);
  }

  /** Refuses a distinct-connection stream past its address's share; counts it until the response closes. */
  function admitDistinctStream({ request, serverContext, endResponse, fetchAPI }: Parameters<NonNullable<Plugin['onRequest']>>[0]) {
    const origin = serverContext as unknown as Partial<ServerContext>;
    if (!origin.res || !origin.req || !opensEventStream({ accept: request.headers.get('accept') ?? undefined }, request.method)) return;
    const key = clientKey(clientIp(origin.req.socket.remoteAddress, request.headers.get('x-forwarded-for')));
    if (!distinctStreams.tryAcquire(key)) {
      return endResponse(refusal(transportErrors.distinctStreamsPerAddress(limits.maxDistinctSseStreamsPerAddress), fetchAPI.Response));
    }
    origin.res.once('close', () => distinctStreams.release(key));
  }

  return {
    ...plugin,
    onYogaInit(payload) {
      logger = payload.yoga.logger;
      fetchAPI = payload.yoga.fetchAPI;
      return plugin.onYogaInit?.({ ...payload, yoga: refusingOperationsWithoutData(payload.yoga) });
    },
    onRequest(payload) {
      const { request } = payload;
      if (!isSingleConnectionSSE(request)) return admitDistinctStream(payload);
      origins.set(request, payload.serverContext as unknown as ServerContext);
      return (async () => {
        let end: (() => void) | undefined;
        try {
          end = await startOperation(request);
          if (end) running.set(request, end);
          // 202: the operation runs (until onComplete); any other answer means it never will.
          const endResponse = (response: Response) => {
            if (response.status !== 202) end?.();
            payload.endResponse(response);
          };
          await plugin.onRequest?.({ ...payload, endResponse });
        } catch (err) {
          // Our own refusals, and what the graphql-sse handler throws: it parses the query and runs the
          // context factory (credentials) outside yoga's error handling, so that would otherwise be
          // answered 500 with its stack trace.
          end?.();
          payload.endResponse(refusal(err, payload.fetchAPI.Response));
        }
      })();
    },
    onDispose: () => reservations.clear(),
  };
}

/**
 * The operation id graphql-sse will read from an operation request (`String(extensions.operationId ?? '')`),
 * or null when it answers the request before reading one. An id that has no string form is refused.
 */
async function operationIdOf(request: Request): Promise<string | null> {
  let extensions: unknown;
  try {
    if (request.method === 'GET') {
      const raw = new URL(request.url).searchParams.get('extensions');
      extensions = raw ? JSON.parse(raw) : undefined;
    } else {
      if (!request.headers.get('content-type')?.includes('application/json')) return null;
      extensions = (JSON.parse(await request.clone().text()) as { extensions?: unknown } | null)?.extensions;
    }
  } catch {
    return null;
  }
  try {
    return String((extensions as { operationId?: unknown } | null | undefined)?.operationId ?? '');
  } catch {
    throw transportErrors.operationIdInvalid();
  }
}

/** Whether a Node request opens an event stream (counted in the SSE gauge while it is open). */
export function opensEventStream(headers: { accept?: string | string[] }, method?: string): boolean {
  const accept = Array.isArray(headers.accept) ? headers.accept.join(',') : (headers.accept ?? '');
  return accept.includes('text/event-stream') && (method === 'POST' || method === 'GET');
}
