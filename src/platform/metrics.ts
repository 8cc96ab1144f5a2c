import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

// One registry per app instance (tests run several in one process). Counters named in API.md and
// the issues live here so every module increments the same objects. Every label takes its value
// from a fixed set chosen by the server, never from what a client sends: one series per distinct
// label value stays in memory for the life of the process and is written out at every scrape.
export function createMetrics() {
  const registry = new Registry();
  // prom-client names these process_* and nodejs_*: the prefix makes portcullis_process_cpu_…
  collectDefaultMetrics({ register: registry, prefix: 'portcullis_' });
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) =>
    new Counter<L>({ name, help, labelNames, registers: [registry] });
  return {
    registry,
    logins: counter('portcullis_logins_total', 'Sign-in attempts by method and result', ['method', 'result']),
    rateLimited: counter('portcullis_rate_limited_total', 'Operations refused by a rate limit', ['operation']),
    wsConnections: new Gauge({ name: 'portcullis_websocket_connections', help: 'Open WebSocket connections', registers: [registry] }),
    sseStreams: new Gauge({ name: 'portcullis_sse_streams', help: 'Open Server-Sent Events streams', registers: [registry] }),
    eventsPublished: counter('portcullis_session_events_published_total', 'Session revocation events published'),
    eventsDelivered: counter('portcullis_session_events_delivered_total', 'Session revocation events delivered to subscribers'),
    oauthCallbacks: counter('portcullis_oauth_callbacks_total', 'OAuth callbacks by provider and result (success or the oauth_error code)', ['provider', 'result']),
    mailSent: counter('portcullis_mail_sent_total', 'Mails by template and result (success, failure, dead)', ['template', 'result']),
    rateLimitFallbacks: counter(
      'portcullis_rate_limit_fallback_total',
      'Rate-limit checks counted in process because Redis did not answer',
    ),
    // GraphQL over HTTP, recorded once per request (graphql/request-metrics.ts). `operation` is the
    // first root field when the schema has it, else "other"; the operation name is never a label.
    graphqlRequests: counter(
      'portcullis_graphql_requests_total',
      'GraphQL HTTP requests by operation type, first root field and method',
      ['operationType', 'operation', 'method'],
    ),
    graphqlDuration: new Histogram({
      name: 'portcullis_graphql_request_duration_seconds',
      help: 'Time to answer a GraphQL HTTP request, by operation type, first root field and method',
      labelNames: ['operationType', 'operation', 'method'] as const,
      registers: [registry],
    }),
    graphqlErrors: counter('portcullis_graphql_errors_total', 'GraphQL errors answered over HTTP, by extensions.code (API.md codes; any other: "other")', ['code']),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
