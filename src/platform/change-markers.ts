import type { Redis } from './redis.ts';

// Change marks shared by every instance through Redis: "until <wall ms>" per user or session,
// written before the changing transaction commits and read on every cache hit (one MGET), so an
// instance never serves a view older than a change another instance made. Any error is thrown to
// the caller, which then trusts the database instead of its cache.

const KEY_PREFIX = 'session-change:';

export interface ChangeMarkers {
  /** Records `until` for each mark, kept `keepMs` (past every entry that could predate it). */
  write(marks: string[], until: number, keepMs: number): Promise<void>;
  /** The latest `until` among the marks; 0 when none is set. Throws when Redis does not answer. */
  latest(marks: string[]): Promise<number>;
  /** Whether reads can be checked right now (the connection is up). */
  ready(): boolean;
  /** Runs `listener` when the connection is lost and when it is back: marks may have been missed. */
  onDoubt(listener: () => void): void;
}

export function createChangeMarkers(redis: Redis): ChangeMarkers {
  return {
    async write(marks, until, keepMs) {
      const batch = redis.multi();
      for (const mark of marks) batch.set(KEY_PREFIX + mark, String(until), 'PX', keepMs);
      const results = await batch.exec();
      const failed = results?.find(([err]) => err);
      if (!results || failed) throw failed?.[0] ?? new Error('change marks not written');
    },
    async latest(marks) {
      const values = await redis.mget(marks.map((mark) => KEY_PREFIX + mark));
      let until = 0;
      for (const value of values) if (value !== null) until = Math.max(until, Number(value));
      return until;
    },
    ready: () => redis.status === 'ready',
    onDoubt(listener) {
      redis.on('close', listener);
      redis.on('ready', listener);
    },
  };
}
