import type { Viewer } from '../../modules/sessions/sessions.service.ts';
import type { Clock } from '../../platform/clock.ts';
import type { Services } from '../../core.ts';

// The session of a WebSocket, as its subscribes see it. connection_init resolves it once; from
// then on the socket watches it for revocation (websocket.ts), so a subscribe needs the database
// only when the view it holds may be wrong: the session looks expired (the idle expiry may have
// moved on since, through HTTP), the view is older than `recheckMs`, or the viewer is an admin (a
// demotion revokes nothing, and admin fields must not outlive it), or the session still owes its
// second factor. Anything else is answered in memory, so a socket's subscribes never queue on the
// connection pool.

export interface SocketSession {
  token: string;
  viewer: Viewer;
  /** When `viewer` was read from the database (clock time, ms). */
  readAt: number;
  /** Set by the revocation watch as soon as the session's own revocation is heard. */
  revoked: boolean;
  /** The database read in progress, shared by the subscribes that arrive meanwhile. */
  reading?: Promise<Viewer | null>;
}

interface Deps {
  sessions: Services['sessions'];
  clock: Clock;
  recheckMs: number;
}

export function createSocketSessions({ sessions, clock, recheckMs }: Deps) {
  async function reread(state: SocketSession): Promise<Viewer | null> {
    const readAt = clock.now().getTime();
    const viewer = await sessions.authenticate(state.token);
    if (viewer && !state.revoked) Object.assign(state, { viewer, readAt });
    return state.revoked ? null : viewer;
  }

  return {
    open: (token: string, viewer: Viewer): SocketSession => ({ token, viewer, readAt: clock.now().getTime(), revoked: false }),

    /** The viewer for a subscribe on this socket, or null when the session has ended. */
    async current(state: SocketSession): Promise<Viewer | null> {
      if (state.revoked) return null;
      const now = clock.now();
      const { viewer } = state;
      // A pending session is read again each time: once its second factor is given (on any
      // transport), its next subscribe is served at once.
      const trusted =
        now.getTime() - state.readAt < recheckMs &&
        sessions.effectiveExpiry(viewer.session) > now &&
        viewer.user.role !== 'ADMIN' &&
        !viewer.session.secondFactorPending;
      if (trusted) return viewer;
      state.reading ??= reread(state).finally(() => (state.reading = undefined));
      return state.reading;
    },
  };
}

export type SocketSessions = ReturnType<typeof createSocketSessions>;
