import { Repeater } from 'graphql-yoga';
import type { Events, SessionRevokedEvent } from '../../platform/events.ts';
import type { Metrics } from '../../platform/metrics.ts';
import type { SessionsService, Viewer } from './sessions.service.ts';

// What a subscriber of `sessionRevoked` receives: every revocation of any session of its own user,
// from any instance. When the revoked session is the subscriber's own, the event is delivered and
// the feed ends (an SSE stream completes; the WebSocket is closed by the transport). A Repeater,
// so a subscriber that leaves releases its listener at once.

interface Deps {
  events: Events;
  metrics: Metrics;
  sessions: SessionsService;
}

export function createRevocationFeed({ events, metrics, sessions }: Deps) {
  /** Open feeds by subscriber session, so a session that ends without an event ends its feeds too. */
  const open = new Map<() => void, string>();
  return {
    /** Ends the feeds whose session has expired or disappeared (an SSE stream then completes). */
    async endExpired(): Promise<number> {
      const live = await sessions.liveIds([...new Set(open.values())]);
      let ended = 0;
      for (const [stop, sessionId] of open) {
        if (live.has(sessionId)) continue;
        stop();
        ended++;
      }
      return ended;
    },

    revocationsFor(viewer: Viewer): AsyncIterableIterator<SessionRevokedEvent> {
      return new Repeater<SessionRevokedEvent>(async (push, stop) => {
        const source = events.sessionRevoked(viewer.user.id);
        open.set(stop, viewer.session.id);
        void stop.then(() => {
          open.delete(stop);
          return source.return?.();
        });
        for await (const event of source) {
          metrics.eventsDelivered.inc();
          await push(event);
          if (event.sessionId === viewer.session.id) break;
        }
        stop();
      });
    },
  };
}

export type RevocationFeed = ReturnType<typeof createRevocationFeed>;
