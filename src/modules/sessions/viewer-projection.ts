import type pg from 'pg';
import type { Session, User } from '../../generated/prisma/client.ts';
import type { Db } from '../../platform/db.ts';

// What an authenticated request knows of its session and user: one declaration per table, from
// which the SELECT list and the row mapping follow. Each must name every column of its model (the
// compiler says so when a migration adds one), so the viewer is never a row with a field missing.

/**
 * `time` columns are `timestamp(3)` holding UTC: read AT TIME ZONE 'UTC', whatever the server's
 * zone. `bigint` columns come back from pg as text.
 */
type Kind = 'value' | 'time' | 'bigint';

const SESSION_COLUMNS = {
  id: 'value',
  tokenHash: 'value',
  userId: 'value',
  method: 'value',
  ipAddress: 'value',
  userAgent: 'value',
  createdAt: 'time',
  lastSeenAt: 'time',
  expiresAt: 'time',
  idleExpiresAt: 'time',
  revokedAt: 'time',
  revokeReason: 'value',
  secondFactor: 'value',
  secondFactorPending: 'value',
  secondFactorFailures: 'value',
} as const satisfies { [K in keyof Session]-?: Kind };

const USER_COLUMNS = {
  id: 'value',
  email: 'value',
  passwordHash: 'value',
  name: 'value',
  role: 'value',
  emailVerified: 'value',
  lockedUntil: 'time',
  lockReason: 'value',
  createdAt: 'time',
  updatedAt: 'time',
  totpSecret: 'value',
  totpEnabledAt: 'time',
  totpLastStep: 'bigint',
  totpPendingSecret: 'value',
  totpPendingAt: 'time',
} as const satisfies { [K in keyof User]-?: Kind };

export interface Viewer {
  user: User;
  session: Session;
  /** The bearer token the session was found by: a session upgraded in place hands it back. */
  token?: string;
}

const sessionKeys = Object.keys(SESSION_COLUMNS) as Array<keyof Session>;
const userKeys = Object.keys(USER_COLUMNS) as Array<keyof User>;
const bigintAt = userKeys.flatMap((key, i) => (USER_COLUMNS[key] === 'bigint' ? [sessionKeys.length + i] : []));

const selectList = (alias: string, columns: Record<string, Kind>) =>
  Object.entries(columns).map(([name, kind]) => {
    const column = `${alias}."${name}"`;
    return `${kind === 'time' ? `${column} AT TIME ZONE 'UTC'` : column} AS "${alias}_${name}"`;
  });

/** Live (not revoked) session by token hash, with its user; expiry is checked by the caller. */
const VIEWER_BY_TOKEN_HASH = `SELECT ${[...selectList('s', SESSION_COLUMNS), ...selectList('u', USER_COLUMNS)].join(', ')}
  FROM "Session" s JOIN "User" u ON u."id" = s."userId" WHERE s."tokenHash" = $1 AND s."revokedAt" IS NULL`;

function toViewer(row: unknown[]): Viewer {
  for (const i of bigintAt) if (row[i] !== null) row[i] = BigInt(row[i] as string);
  const session: Record<string, unknown> = {};
  const user: Record<string, unknown> = {};
  sessionKeys.forEach((key, i) => (session[key] = row[i]));
  userKeys.forEach((key, i) => (user[key] = row[sessionKeys.length + i]));
  return { session: session as Session, user: user as User };
}

/**
 * The lookup of every authenticated request that misses the cache: a named prepared statement on
 * the pool Prisma's adapter uses (parsed and planned once per connection), rows as arrays.
 */
export function createViewerLookup(db: Db, pool: pg.Pool | undefined) {
  const query = { name: 'portcullis_viewer_by_token_hash', text: VIEWER_BY_TOKEN_HASH, rowMode: 'array' as const };
  return async (tokenHash: string): Promise<Viewer | null> => {
    const rows = pool
      ? (await pool.query<unknown[]>({ ...query, values: [tokenHash] })).rows
      : (await db.$queryRawUnsafe<Array<Record<string, unknown>>>(VIEWER_BY_TOKEN_HASH, tokenHash)).map((r) => Object.values(r));
    return rows[0] ? toViewer(rows[0]) : null;
  };
}

const TOUCH = `UPDATE "Session" SET "lastSeenAt" = $2::timestamptz AT TIME ZONE 'UTC', "idleExpiresAt" = $3::timestamptz AT TIME ZONE 'UTC'
  WHERE "id" = $1::uuid AND "lastSeenAt" = $4::timestamptz AT TIME ZONE 'UTC'`;

/** Moves a session's lastSeenAt and idle expiry on, unless another write moved lastSeenAt first. */
export function createSessionTouch(db: Db, pool: pg.Pool | undefined) {
  const query = { name: 'portcullis_touch_session', text: TOUCH };
  return async (id: string, seenBefore: Date, lastSeenAt: Date, idleExpiresAt: Date): Promise<void> => {
    if (!pool) {
      await db.session.updateMany({ where: { id, lastSeenAt: seenBefore }, data: { lastSeenAt, idleExpiresAt } });
      return;
    }
    await pool.query({ ...query, values: [id, lastSeenAt.toISOString(), idleExpiresAt.toISOString(), seenBefore.toISOString()] });
  };
}
