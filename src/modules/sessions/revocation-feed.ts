import type { Events, SessionRevokedEvent } from '../../platform/events.ts';
import type { Metrics } from '../../platform/metrics.ts';
import type { Viewer } from './sessions.service.ts';

// What a subscriber of `sessionRevoked` receives: every revocation of any session of its own user,
// from any instance. When the revoked session is the subscriber's own, the event is delivered and
// the feed ends (an SSE stream completes; the WebSocket is closed by the transport).

export function createRevocationFeed({ events, metrics }: { events: Events; metrics: Metrics }) {
  return {
    async *revocationsFor(viewer: Viewer): AsyncGenerator<SessionRevokedEvent> {
      for await (const event of events.sessionRevoked(viewer.user.id)) {
        metrics.eventsDelivered.inc();
        yield event;
        if (event.sessionId === viewer.session.id) return;
      }
    },
  };
}

export type RevocationFeed = ReturnType<typeof createRevocationFeed>;
