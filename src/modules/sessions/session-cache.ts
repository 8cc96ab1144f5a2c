import type { Viewer } from './viewer-projection.ts';

// The in-process cache of the session check: token hash -> viewer, as read from the database.
// Changes are known by marks ("user:<id>", "session:<id>") that say until when a read may still
// have seen the state before the change (the changing transaction may not have committed yet):
// an entry read before that moment is not served, and a read that began before it is not kept.
// The sessions service marks locally and, with Redis, for every instance (change-markers.ts).

/** How long an entry is served at most, even when no change is heard of (a lost mark, a bug). */
export const SESSION_CACHE_TTL_MS = 5_000;
/** Entries kept; the least recently used leaves first. About 1 KB each. */
const SESSION_CACHE_MAX_ENTRIES = 10_000;
/**
 * How long after a change a read may still see the state before it: a transaction commits within
 * Prisma's 5 s interactive timeout of the mark (written inside it), plus margin for clock skew
 * between instances. Meanwhile the user's sessions are read from the database on every request.
 */
export const CHANGE_WINDOW_MS = 10_000;

export const userMark = (userId: string) => `user:${userId}`;
export const sessionMark = (sessionId: string) => `session:${sessionId}`;
export const marksOf = (viewer: Viewer) => [userMark(viewer.user.id), sessionMark(viewer.session.id)];

interface CachedViewer {
  viewer: Viewer;
  /** Wall time (ms) at which the database read began. */
  readAt: number;
}

interface Options {
  ttlMs?: number;
  maxEntries?: number;
  /** Wall time in ms: marks are compared across instances, so not the (fake) business clock. */
  wallNow?: () => number;
  /** When the viewer's session stops working (its idle or absolute expiry). */
  expiresAt: (viewer: Viewer) => Date;
}

export function createSessionCache({ ttlMs = SESSION_CACHE_TTL_MS, maxEntries = SESSION_CACHE_MAX_ENTRIES, wallNow = Date.now, expiresAt }: Options) {
  const entries = new Map<string, CachedViewer>();
  const changedUntil = new Map<string, number>();

  const latestChange = (viewer: Viewer) => Math.max(changedUntil.get(userMark(viewer.user.id)) ?? 0, changedUntil.get(sessionMark(viewer.session.id)) ?? 0);

  /** Marks whose window and every entry it could concern are over. */
  function forgetOldMarks(): void {
    const horizon = wallNow() - ttlMs;
    for (const [mark, until] of changedUntil) if (until < horizon) changedUntil.delete(mark);
  }

  return {
    /**
     * The viewer behind a token hash, if it was read less than the TTL ago, after every change
     * marked here, and its session has not expired at `now` (the expiry may have moved on since,
     * elsewhere: the caller then reads the database, which decides).
     */
    get(tokenHash: string, now: Date): CachedViewer | undefined {
      const entry = entries.get(tokenHash);
      if (!entry) return undefined;
      if (wallNow() - entry.readAt >= ttlMs || entry.readAt < latestChange(entry.viewer) || expiresAt(entry.viewer) <= now) {
        entries.delete(tokenHash);
        return undefined;
      }
      // Most recently used last: the first key is the one to evict.
      entries.delete(tokenHash);
      entries.set(tokenHash, entry);
      return entry;
    },

    /** Keeps a viewer whose read began at `readAt`, unless a change marked since may postdate it. */
    set(tokenHash: string, viewer: Viewer, readAt: number): void {
      if (wallNow() - readAt >= ttlMs || readAt < latestChange(viewer)) return;
      entries.delete(tokenHash);
      entries.set(tokenHash, { viewer, readAt });
      if (entries.size > maxEntries) entries.delete(entries.keys().next().value!);
    },

    delete(tokenHash: string): void {
      entries.delete(tokenHash);
    },

    /** A change to what `mark` names: reads that began before `until` are neither served nor kept. */
    markChanged(mark: string, until: number): void {
      changedUntil.set(mark, Math.max(changedUntil.get(mark) ?? 0, until));
      if (changedUntil.size > maxEntries) forgetOldMarks();
    },

    /** Forgets every entry (Redis lost or back: changes may have gone unheard). */
    clear(): void {
      entries.clear();
    },

    get size(): number {
      return entries.size;
    },
  };
}
