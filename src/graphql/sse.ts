import { useGraphQLSSE } from '@graphql-yoga/plugin-graphql-sse';
import type { Plugin } from 'graphql-yoga';

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
  return {
    ...plugin,
    onRequest(payload) {
      if (isSingleConnectionSSE(payload.request)) return plugin.onRequest?.(payload);
    },
  };
}

/** Whether a Node request opens an event stream (counted in the SSE gauge while it is open). */
export function opensEventStream(headers: { accept?: string | string[] }, method?: string): boolean {
  const accept = Array.isArray(headers.accept) ? headers.accept.join(',') : (headers.accept ?? '');
  return accept.includes('text/event-stream') && (method === 'POST' || method === 'GET');
}
