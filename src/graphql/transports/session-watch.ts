import { revocationChannel } from '../../modules/sessions/revocation-channel.ts';
import type { Events } from '../../platform/events.ts';

// THE registry of this instance's long-lived connections (WebSockets and SSE streams) and the
// sessions they belong to. It hears each user's revocations once, however many of the user's
// connections are open, and ends the connections of a revoked session; one sweep (one query for
// every watched session) ends those whose session ended without an event: an expiry, a deleted
// user, a revocation published while Redis was away.

export type EndReason = 'revoked' | 'ended';

interface Watcher {
  sessionId: string;
  end: (reason: EndReason) => void;
}

interface Deps {
  events: Pick<Events, 'subscribe'>;
  /** Which of these sessions are still live (one query). */
  liveIds: (ids: string[]) => Promise<Set<string>>;
  onListenerError?: (err: unknown) => void;
}

export function createSessionWatch({ events, liveIds, onListenerError }: Deps) {
  const watchersByUser = new Map<string, Set<Watcher>>();
  const stopListening = new Map<string, () => void>();

  function listen(userId: string): void {
    const revocations = events.subscribe(revocationChannel, userId);
    stopListening.set(userId, () => void revocations.return?.());
    void (async () => {
      for await (const event of revocations) {
        for (const watcher of [...(watchersByUser.get(userId) ?? [])]) {
          if (watcher.sessionId === event.sessionId) end(userId, watcher, 'revoked');
        }
      }
    })().catch((err) => onListenerError?.(err));
  }

  function forget(userId: string, watcher: Watcher): void {
    const watchers = watchersByUser.get(userId);
    if (!watchers?.delete(watcher) || watchers.size) return;
    watchersByUser.delete(userId);
    stopListening.get(userId)?.();
    stopListening.delete(userId);
  }

  function end(userId: string, watcher: Watcher, reason: EndReason): void {
    forget(userId, watcher);
    watcher.end(reason);
  }

  return {
    /**
     * Calls `end` once when the session ends (its revocation heard, or found ended by a sweep);
     * returns the function that stops watching (the connection closed on its own).
     */
    watch(viewer: { user: { id: string }; session: { id: string } }, onEnd: (reason: EndReason) => void): () => void {
      const userId = viewer.user.id;
      const watcher: Watcher = { sessionId: viewer.session.id, end: onEnd };
      if (!watchersByUser.has(userId)) {
        watchersByUser.set(userId, new Set());
        listen(userId);
      }
      watchersByUser.get(userId)!.add(watcher);
      return () => forget(userId, watcher);
    },

    /** Ends the connections of every watched session that is no longer live; how many ended. */
    async sweep(): Promise<number> {
      const watched = [...watchersByUser].flatMap(([userId, watchers]) => [...watchers].map((watcher) => ({ userId, watcher })));
      if (!watched.length) return 0;
      const live = await liveIds([...new Set(watched.map(({ watcher }) => watcher.sessionId))]);
      let ended = 0;
      for (const { userId, watcher } of watched) {
        // A connection that closed meanwhile is no longer watched.
        if (live.has(watcher.sessionId) || !watchersByUser.get(userId)?.has(watcher)) continue;
        end(userId, watcher, 'ended');
        ended++;
      }
      return ended;
    },

    /** Users heard (one listener each), for the tests and the metrics. */
    listeningUsers: () => watchersByUser.size,
  };
}

export type SessionWatch = ReturnType<typeof createSessionWatch>;
