import { Repeater } from '@repeaterjs/repeater';
import type { Events } from '../../platform/events.ts';
import { revocationChannel } from './revocation-channel.ts';
import type { Metrics } from '../../platform/metrics.ts';
import type { SessionRevocation, Viewer } from './sessions.service.ts';

// What a subscriber of `sessionRevoked` receives: every revocation of any session of its own user,
// from any instance. When the revoked session is the subscriber's own, the event is delivered and
// the feed ends (an SSE stream completes; the WebSocket is closed by the transport). A Repeater,
// so a subscriber that leaves releases its listener at once.

/** Calls `onEnd` once the session ends (the transports' session watch); returns the unwatch. */
export type WatchSession = (viewer: Viewer, onEnd: (reason: 'revoked' | 'ended') => void) => () => void;

interface Deps {
  events: Pick<Events, 'subscribe'>;
  metrics: Metrics;
  /** Ends a feed whose session ends without an event of its own (an expiry, a deleted user). */
  watch: WatchSession;
}

export function createRevocationFeed({ events, metrics, watch }: Deps) {
  return {
    revocationsFor(viewer: Viewer): AsyncIterableIterator<SessionRevocation> {
      return new Repeater<SessionRevocation>(async (push, stop) => {
        const source = events.subscribe(revocationChannel, viewer.user.id);
        // Its own revocation is delivered below before the feed ends; only a silent end stops it here.
        const unwatch = watch(viewer, (reason) => reason === 'ended' && stop());
        void stop.then(() => {
          unwatch();
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
