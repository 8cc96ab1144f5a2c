import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

// One registry per app instance (tests run several in one process). Counters named in API.md and
// the issues live here so every module increments the same objects. Every label takes its value
// from a fixed set chosen by the server, never from what a client sends: one series per distinct
// label value stays in memory for the life of the process and is written out at every scrape.
/** How long a count of active sessions is reused between scrapes. */
const ACTIVE_SESSIONS_CACHE_MS = 30_000;

export function createMetrics() {
  const registry = new Registry();
  // prom-client names these process_* and nodejs_*: the prefix makes portcullis_process_cpu_…
  collectDefaultMetrics({ register: registry, prefix: 'portcullis_' });
  // Counted when scraped, at most every ACTIVE_SESSIONS_CACHE_MS: a scrape never waits on more than one count.
  let countActiveSessions: (() => Promise<number>) | undefined;
  let lastCount: { at: number; value: number } | undefined;
  const activeSessions = new Gauge({
    name: 'portcullis_active_sessions',
    help: 'Sessions neither revoked nor expired (counted at scrape time, at most every 30 s, capped at 1,000,000)',
    registers: [registry],
    async collect() {
      if (!countActiveSessions) return;
      if (!lastCount || Date.now() - lastCount.at > ACTIVE_SESSIONS_CACHE_MS) {
        lastCount = { at: Date.now(), value: await countActiveSessions().catch(() => lastCount?.value ?? 0) };
      }
      this.set(lastCount.value);
    },
  });
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
    oauthCallbacks: counter('portcullis_oauth_callbacks_total', 'OAuth callbacks by provider and result (success or the oauth_error code)', [
      'provider',
      'result',
    ]),
    secondFactor: counter(
      'portcullis_second_factor_total',
      'Second-factor operations by action (enroll, confirm, complete, disable, regenerate, admin_reset) and result',
      ['action', 'result'],
    ),
    registrations: counter('portcullis_registrations_total', 'Accounts created, by method (PASSWORD, MAGIC_LINK, EMAIL_CODE, OAUTH, PASSKEY, ADMIN, other)', [
      'method',
    ]),
    tokenFailures: counter(
      'portcullis_token_failures_total',
      'Mailed links and codes refused (TOKEN_INVALID, TOKEN_EXPIRED), by purpose (magic_link, email_code, password_reset, email_verification, oauth, other) and reason (invalid, expired)',
      ['purpose', 'reason'],
    ),
    activeSessions,
    /** Sets how the active-sessions gauge is counted at scrape time (a bounded query, cached). */
    countActiveSessionsWith(count: () => Promise<number>) {
      countActiveSessions = count;
    },
    mailSent: counter('portcullis_mail_sent_total', 'Mails by template and result (success, failure, dead)', ['template', 'result']),
    rateLimitFallbacks: counter('portcullis_rate_limit_fallback_total', 'Rate-limit checks counted in process because Redis did not answer'),
    // GraphQL over HTTP, recorded once per request (graphql/request-metrics.ts). `operation` is the
    // first root field when the schema has it, else "other"; the operation name is never a label.
    graphqlRequests: counter('portcullis_graphql_requests_total', 'GraphQL HTTP requests by operation type, first root field and method', [
      'operationType',
      'operation',
      'method',
    ]),
    graphqlDuration: new Histogram({
      name: 'portcullis_graphql_request_duration_seconds',
      help: 'Time to answer a GraphQL HTTP request, by operation type, first root field and method',
      labelNames: ['operationType', 'operation', 'method'] as const,
      registers: [registry],
    }),
    graphqlErrors: counter('portcullis_graphql_errors_total', 'GraphQL errors answered over HTTP, by extensions.code (API.md codes; any other: "other")', [
      'code',
    ]),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

const REGISTRATION_METHODS = new Set(['PASSWORD', 'MAGIC_LINK', 'EMAIL_CODE', 'OAUTH', 'PASSKEY', 'ADMIN']);

/** The method label of a committed `user.registered` audit event (its JSON data), from a fixed set. */
export function registrationMethodLabel(data: string | null): string {
  try {
    const method = (JSON.parse(data ?? '{}') as { method?: unknown }).method;
    return typeof method === 'string' && REGISTRATION_METHODS.has(method) ? method : 'other';
  } catch {
    return 'other';
  }
}
