import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

// One registry per app instance (tests run several in one process). Counters named in API.md and
// the issues live here so every module increments the same objects.
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'portcullis_process_' });
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) =>
    new Counter<L>({ name, help, labelNames, registers: [registry] });
  return {
    registry,
    logins: counter('portcullis_logins_total', 'Sign-in attempts by method and result', ['method', 'result']),
    rateLimited: counter('portcullis_rate_limited_total', 'Operations refused by a rate limit', ['operation']),
    accountLockouts: counter('portcullis_account_lockouts_total', 'Accounts locked after repeated failed logins'),
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
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
