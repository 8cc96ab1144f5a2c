import { Repeater } from '@repeaterjs/repeater';
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
    /** The sessions whose feeds are open (to be checked in one query with the WebSockets'). */
    watchedSessionIds(): string[] {
      return [...new Set(open.values())];
    },

    /** Ends the feeds whose session was `checked` and is not `live` (an SSE stream then completes). */
    endAllBut(live: Set<string>, checked: Iterable<string>): number {
      const wasChecked = new Set(checked);
      let ended = 0;
      for (const [stop, sessionId] of open) {
        if (live.has(sessionId) || !wasChecked.has(sessionId)) continue;
        stop();
        ended++;
      }
      return ended;
    },

    /** Ends the feeds whose session has expired or disappeared. */
    async endExpired(): Promise<number> {
      const checked = [...new Set(open.values())];
      return this.endAllBut(await sessions.liveIds(checked), checked);
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
