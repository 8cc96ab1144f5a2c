import type { SessionPolicy } from '../../config/policies.ts';
import type { AuthMethod, RevocationReason, SecondFactor, Session } from '../../generated/prisma/client.ts';
import { createChangeMarkers } from '../../platform/change-markers.ts';
import type { Clock } from '../../platform/clock.ts';
import { hashToken, newToken } from '../../platform/crypto.ts';
import { pgPoolOf, type Db, type Tx } from '../../platform/db.ts';
import type { Logger } from '../../platform/logger.ts';
import type { Redis } from '../../platform/redis.ts';
import type { AuditService } from '../audit/audit.service.ts';
import type { Scope, Transact } from '../../kernel/unit-of-work.ts';
import type { OneTimeTokens } from '../tokens/one-time-tokens.ts';
import { CHANGE_WINDOW_MS, createSessionCache, marksOf, SESSION_CACHE_TTL_MS, sessionMark, userMark } from './session-cache.ts';
import { createSessionTouch, createViewerLookup, type Viewer } from './viewer-projection.ts';
import type { ClientInfo } from '../../kernel/client.ts';

export type { Viewer };

export interface IssuedSession {
  token: string;
  session: Session;
}

export interface SessionRevocation {
  sessionId: string;
  userId: string;
  reason: RevocationReason;
  revokedAt: Date;
}

declare module '../../kernel/events.ts' {
  interface DomainEventMap {
    /** Sessions ended in one batch: after commit, every instance's subscribers and sockets hear it. */
    'sessions.revoked': SessionRevocation[];
  }
}

/** Who revoked, for the audit log: an admin (actorId), and from where. */
export interface RevokedBy {
  actorId?: string | null;
  client?: ClientInfo | null;
}

interface Deps {
  db: Db;
  clock: Clock;
  policy: SessionPolicy;
  transact: Transact;
  audit: AuditService;
  tokens: Pick<OneTimeTokens, 'voidMailedSecrets'>;
  /** Shares change marks between instances; without it, the cache is checked against this process's marks. */
  redis?: Redis;
  log?: Pick<Logger, 'warn'>;
}

const USER_AGENT_MAX = 512;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function createSessionsService({ db, clock, policy, transact, audit, tokens, redis, log }: Deps) {
  /** The time at which a session stops working: the earlier of its idle and absolute limits. */
  const effectiveExpiry = (s: Pick<Session, 'idleExpiresAt' | 'expiresAt'>) => (s.idleExpiresAt < s.expiresAt ? s.idleExpiresAt : s.expiresAt);

  const findLiveByTokenHash = createViewerLookup(db, pgPoolOf(db));
  const writeTouch = createSessionTouch(db, pgPoolOf(db));
  const cache = createSessionCache({ expiresAt: (viewer) => effectiveExpiry(viewer.session) });
  const markers = redis && createChangeMarkers(redis);
  // Lost or back, Redis may have missed marks: nothing cached is trusted any more.
  markers?.onDoubt(() => cache.clear());
  const cacheStats = { hits: 0, misses: 0 };
  /** lastSeenAt writes under way by session, one at a time each; the reads that list sessions await them. */
  const touches = new Map<string, Promise<void>>();

  /**
   * Records a change before its transaction commits: from now until the change window is over,
   * reads of what `marks` name come from the database, here and (through Redis) on every instance.
   */
  async function markChanged(marks: string[]): Promise<void> {
    const until = Date.now() + CHANGE_WINDOW_MS;
    for (const mark of marks) cache.markChanged(mark, until);
    // A failed write is not fatal: instances whose Redis fails too read the database, the others
    // serve what they hold for at most the cache TTL.
    await markers?.write(marks, until, CHANGE_WINDOW_MS + SESSION_CACHE_TTL_MS).catch((err: Error) => {
      log?.warn({ err: { message: err.message } }, 'session cache: change mark not shared');
    });
  }

  /** A cached viewer that no change, here or on another instance, has overtaken; else undefined. */
  async function fromCache(tokenHash: string, now: Date): Promise<Viewer | undefined> {
    const entry = cache.get(tokenHash, now);
    if (!entry || !markers) return entry?.viewer;
    try {
      if (entry.readAt >= (await markers.latest(marksOf(entry.viewer)))) return entry.viewer;
      cache.delete(tokenHash);
    } catch {
      cache.clear(); // Redis did not answer: the database decides, and nothing held is trusted
    }
    return undefined;
  }

  /**
   * Moves lastSeenAt and the idle expiry on: one prepared UPDATE a minute per session. The view in
   * memory moves at once, so the session's other requests meanwhile neither write nor wait; the
   * request that writes waits for it, so that once it is answered the row says so. Writes of one
   * session queue behind each other: each is conditional on the lastSeenAt the one before wrote.
   */
  function touch(session: Session, now: Date): Promise<void> {
    const idleExpiresAt = new Date(Math.min(now.getTime() + policy.idleTimeoutMs, session.expiresAt.getTime()));
    const seenBefore = session.lastSeenAt;
    const write: Promise<void> = (touches.get(session.id) ?? Promise.resolve())
      .then(() => writeTouch(session.id, seenBefore, now, idleExpiresAt))
      .catch((err: Error) => void log?.warn({ err: { message: err.message } }, 'session touch failed'))
      .finally(() => touches.get(session.id) === write && touches.delete(session.id));
    touches.set(session.id, write);
    Object.assign(session, { lastSeenAt: now, idleExpiresAt });
    return write;
  }

  async function revokeWhere(
    where: { userId: string; id?: string; NOT?: { id: string } },
    reason: RevocationReason,
    { tx, uow }: Scope,
    by: RevokedBy = {},
  ): Promise<SessionRevocation[]> {
    // Every revocation marks its user, so the lock, delete and password change that revoke inside
    // their own transaction are covered by it too.
    await markChanged([userMark(where.userId)]);
    const revokedAt = clock.now();
    const live = { ...where, revokedAt: null, expiresAt: { gt: revokedAt }, idleExpiresAt: { gt: revokedAt } };
    // One statement, so two revocations racing never both report the same session.
    const revoked = await tx.session.updateManyAndReturn({
      where: live,
      data: { revokedAt, revokeReason: reason },
      select: { id: true },
    });
    const revocations = revoked.map(({ id }) => ({ sessionId: id, userId: where.userId, reason, revokedAt }));
    if (!revocations.length) return revocations;
    // One audit event per batch, in the revocation's transaction.
    const data = { reason, count: revoked.length, sessionIds: revoked.map(({ id }) => id) };
    await audit.record({ type: 'session.revoked', userId: where.userId, actorId: by.actorId, client: by.client, data }, { tx, uow });
    await uow.emit('sessions.revoked', revocations);
    return revocations;
  }

  /** Revokes in a transaction of its own (with its audit event). */
  const revokeNow = (where: Parameters<typeof revokeWhere>[0], reason: RevocationReason, by?: RevokedBy) =>
    transact((tx, uow) => revokeWhere(where, reason, { tx, uow }, by));

  return {
    effectiveExpiry,

    /** Opens a session; runs inside the caller's transaction when one is given. */
    async issue(
      tx: Tx | Db,
      userId: string,
      method: AuthMethod,
      client: ClientInfo,
      secondFactor: { secondFactorPending: boolean; secondFactor: SecondFactor | null } = { secondFactorPending: false, secondFactor: null },
      { userLocked = false }: { userLocked?: boolean } = {},
    ): Promise<IssuedSession> {
      // A shared lock on the user: a password reset or an admin lock (which update the row, then
      // revoke every session) either waits for this session to commit and revokes it, or commits
      // first and this sign-in comes after it. No session slips between the two. The sign-in flow
      // takes it itself (`userLocked`), reading the row's second factor under it.
      if (!userLocked) await tx.$executeRaw`SELECT 1 FROM "User" WHERE id = ${userId}::uuid FOR SHARE`;
      const now = clock.now();
      const token = newToken();
      const session = await tx.session.create({
        data: {
          tokenHash: hashToken(token),
          userId,
          method,
          ipAddress: client.ipAddress,
          userAgent: client.userAgent?.slice(0, USER_AGENT_MAX) ?? null,
          createdAt: now,
          lastSeenAt: now,
          expiresAt: new Date(now.getTime() + policy.absoluteLifetimeMs),
          idleExpiresAt: new Date(now.getTime() + Math.min(policy.idleTimeoutMs, policy.absoluteLifetimeMs)),
          ...secondFactor,
        },
      });
      return { token, session };
    },

    /**
     * The live session behind a bearer token, or null: a cache hit no change has overtaken, else one
     * indexed lookup. A write at most once a minute, unless `touch` is false (a liveness check that
     * is not activity).
     */
    async authenticate(token: string, { touch: isActivity = true } = {}): Promise<Viewer | null> {
      if (!token || token.length > 128) return null;
      const tokenHash = hashToken(token);
      const now = clock.now();
      let viewer = await fromCache(tokenHash, now);
      if (viewer) cacheStats.hits++;
      else {
        cacheStats.misses++;
        const readAt = Date.now();
        const found = await findLiveByTokenHash(tokenHash);
        if (!found) return null;
        viewer = found;
        // Without a working Redis a hit could not be checked against other instances' changes.
        if (!markers || markers.ready()) cache.set(tokenHash, viewer, readAt);
      }
      if (effectiveExpiry(viewer.session) <= now) return null;
      if (isActivity && now.getTime() - viewer.session.lastSeenAt.getTime() >= policy.touchIntervalMs) await touch(viewer.session, now);
      return { user: viewer.user, session: viewer.session, token };
    },

    /**
     * A write to a user (role, lock, email, name, password, second factor, deletion) inside `tx`,
     * before it commits: every instance reads the user's sessions from the database from now on
     * until the change window is over, so nobody is served the state before it once it commits.
     */
    userChanged: (_tx: Tx | Db, userId: string) => markChanged([userMark(userId)]),

    /** The same for a write to one session (a second factor proven on it, a wrong code counted). */
    sessionChanged: (_tx: Tx | Db, sessionId: string) => markChanged([sessionMark(sessionId)]),

    /** Session checks answered from the cache (hits) or the database (misses) by this instance. */
    cacheStats,

    /** Which of the given sessions are still live (not revoked, not expired): one query for all. */
    async liveIds(ids: string[]): Promise<Set<string>> {
      if (!ids.length) return new Set();
      await Promise.all(touches.values());
      const now = clock.now();
      const live = await db.session.findMany({
        where: { id: { in: ids }, revokedAt: null, expiresAt: { gt: now }, idleExpiresAt: { gt: now } },
        select: { id: true },
      });
      return new Set(live.map((s) => s.id));
    },

    /** Live sessions of a user, newest first. */
    async listLive(userId: string): Promise<Session[]> {
      await Promise.all(touches.values()); // this request's own activity shows in the list
      const now = clock.now();
      return db.session.findMany({
        where: { userId, revokedAt: null, expiresAt: { gt: now }, idleExpiresAt: { gt: now } },
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      });
    },

    async revokeOne(userId: string, sessionId: string, reason: RevocationReason, by?: RevokedBy): Promise<boolean> {
      if (!UUID.test(sessionId)) return false;
      return (await revokeNow({ userId, id: sessionId }, reason, by)).length > 0;
    },

    /**
     * "Sign out everywhere else": every other session ends, and so does every link or code mailed
     * before it (`voidMailedSecrets`), which would otherwise open a new one.
     */
    async revokeOthers(user: { id: string; email: string }, keepSessionId: string, reason: RevocationReason, by?: RevokedBy): Promise<number> {
      const revoked = await transact(async (tx, uow) => {
        await tokens.voidMailedSecrets(tx, user.email);
        return revokeWhere({ userId: user.id, NOT: { id: keepSessionId } }, reason, { tx, uow }, by);
      });
      return revoked.length;
    },

    /**
     * Revokes inside the caller's write: the revocation is heard (realtime, other instances) only
     * once that transaction has committed.
     */
    revokeInTransaction: (scope: Scope, userId: string, reason: RevocationReason, keepSessionId?: string, by?: RevokedBy) =>
      revokeWhere(keepSessionId ? { userId, NOT: { id: keepSessionId } } : { userId }, reason, scope, by),
  };
}

export type SessionsService = ReturnType<typeof createSessionsService>;
