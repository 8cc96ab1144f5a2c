import { useGraphQLSSE } from '@graphql-yoga/plugin-graphql-sse';
import { GraphQLError } from 'graphql';
import type { Plugin, YogaLogger } from 'graphql-yoga';
import { AppError, errorStatus } from '../errors.ts';
import { currentRequestId } from '../platform/request-scope.ts';

// GraphQL over Server-Sent Events on /graphql, both modes of the protocol the graphql-sse client
// speaks. Distinct connections (POST with `Accept: text/event-stream`) are served by yoga itself;
// single-connection mode (PUT reserves a stream, GET ?token= opens it, POSTs carrying the
// X-GraphQL-Event-Stream-Token header run operations on it) by the graphql-sse plugin, which
// runs every operation through yoga's envelop like the other transports.

const STREAM_TOKEN_HEADER = 'x-graphql-event-stream-token';

export function isSingleConnectionSSE(request: Request): boolean {
  if (request.method === 'PUT') return true;
  if (request.headers.has(STREAM_TOKEN_HEADER)) return true;
  return request.method === 'GET' && new URL(request.url).searchParams.has('token');
}

export function useServerSentEvents(): Plugin {
  const plugin = useGraphQLSSE({ endpoint: '/graphql' });
  let logger: YogaLogger | undefined;
  return {
    ...plugin,
    onYogaInit(payload) {
      logger = payload.yoga.logger;
      return plugin.onYogaInit?.(payload);
    },
    onRequest(payload) {
      if (!isSingleConnectionSSE(payload.request)) return;
      // The graphql-sse handler parses the query and runs the context factory (credentials) outside
      // yoga's error handling: what they throw would otherwise be answered 500 with its stack trace.
      return Promise.resolve(plugin.onRequest?.(payload)).catch((err: unknown) =>
        payload.endResponse(refusal(err, payload.fetchAPI.Response, logger)),
      );
    },
  };
}

/** The error response of a single-connection operation refused before it ran (API.md's error model). */
function refusal(err: unknown, Response: typeof globalThis.Response, logger?: YogaLogger): Response {
  const requestId = currentRequestId();
  const source = err instanceof GraphQLError && err.originalError instanceof AppError ? err.originalError : err;
  let error: { message: string; code: string; status: number };
  if (source instanceof AppError) error = { message: source.message, code: source.code, status: errorStatus[source.code] };
  else if (source instanceof GraphQLError) {
    const status = (source.extensions.http as { status?: number } | undefined)?.status ?? 400;
    error = { message: source.message, code: String(source.extensions.code ?? 'BAD_USER_INPUT'), status };
  } else {
    logger?.warn('single-connection SSE operation failed', requestId, err);
    error = { message: 'Unexpected error.', code: 'INTERNAL_SERVER_ERROR', status: 500 };
  }
  const body = { errors: [{ message: error.message, extensions: { code: error.code, requestId, http: { status: error.status } } }] };
  return new Response(JSON.stringify(body), { status: error.status, headers: { 'content-type': 'application/json; charset=utf-8' } });
}

/** Whether a Node request opens an event stream (counted in the SSE gauge while it is open). */
export function opensEventStream(headers: { accept?: string | string[] }, method?: string): boolean {
  const accept = Array.isArray(headers.accept) ? headers.accept.join(',') : (headers.accept ?? '');
  return accept.includes('text/event-stream') && (method === 'POST' || method === 'GET');
}
