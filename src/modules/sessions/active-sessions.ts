import type { Clock } from '../../platform/clock.ts';
import type { Db } from '../../platform/db.ts';

/** Past this many, the active-sessions gauge says "at least this many": a scrape stays cheap. */
export const ACTIVE_SESSIONS_CAP = 1_000_000;

/** Sessions neither revoked nor expired (absolute or idle), counted up to ACTIVE_SESSIONS_CAP. */
export async function countActiveSessions(db: Db, clock: Clock): Promise<number> {
  const now = clock.now();
  const [row] = await db.$queryRawUnsafe<Array<{ count: bigint }>>(
    `SELECT count(*) AS count FROM (
       SELECT 1 FROM "Session" WHERE "revokedAt" IS NULL AND "expiresAt" > $1 AND "idleExpiresAt" > $1 LIMIT ${ACTIVE_SESSIONS_CAP}
     ) live`,
    now,
  );
  return Number(row?.count ?? 0);
}
