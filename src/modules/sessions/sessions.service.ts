import type { SessionPolicy } from '../../config/policies.ts';
import type { AuthMethod, RevocationReason, SecondFactor, Session, User } from '../../generated/prisma/client.ts';
import type { Clock } from '../../platform/clock.ts';
import { hashToken, newToken } from '../../platform/crypto.ts';
import type { Db, Tx } from '../../platform/db.ts';
import type { AuditRecord, AuditService } from '../audit/audit.service.ts';
import type { OneTimeTokens } from '../tokens/one-time-tokens.ts';
import type { ClientInfo } from '../../kernel/client.ts';

export interface Viewer {
  user: User;
  session: Session;
}

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

/** Who revoked, for the audit log: an admin (actorId), and from where. */
export interface RevokedBy {
  actorId?: string | null;
  client?: ClientInfo | null;
}

interface Deps {
  db: Db;
  clock: Clock;
  policy: SessionPolicy;
  /** Told of every revocation after it is committed (realtime fan-out, audit). */
  onRevoked?: (revocations: SessionRevocation[]) => void;
  audit: AuditService;
  tokens: Pick<OneTimeTokens, 'voidMailedSecrets'>;
}

const USER_AGENT_MAX = 512;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function createSessionsService({ db, clock, policy, onRevoked, audit, tokens }: Deps) {
  /** The session.revoked audit event of each batch, announced with the batch after commit. */
  const auditOf = new WeakMap<SessionRevocation[], AuditRecord>();

  /** The time at which a session stops working: the earlier of its idle and absolute limits. */
  const effectiveExpiry = (s: Session) => (s.idleExpiresAt < s.expiresAt ? s.idleExpiresAt : s.expiresAt);

  async function revokeWhere(
    where: { userId: string; id?: string; NOT?: { id: string } },
    reason: RevocationReason,
    tx: Tx,
    by: RevokedBy = {},
  ): Promise<SessionRevocation[]> {
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
    // One event per batch, in the revocation's transaction.
    const data = { reason, count: revoked.length, sessionIds: revoked.map(({ id }) => id) };
    const record = await audit.record({ type: 'session.revoked', userId: where.userId, actorId: by.actorId, client: by.client, data }, tx);
    auditOf.set(revocations, record);
    return revocations;
  }

  /** Revokes in a transaction of its own (with its audit event). */
  const revokeNow = (where: Parameters<typeof revokeWhere>[0], reason: RevocationReason, by?: RevokedBy) =>
    db.$transaction((tx) => revokeWhere(where, reason, tx, by));

  /**
   * The hot path of every authenticated request: the session and its user in one indexed query
   * (the ORM would make two round trips for the relation).
   */
  async function findLiveByTokenHash(tokenHash: string): Promise<Viewer | null> {
    const rows = await db.$queryRaw<Array<Record<string, unknown>>>`
      SELECT s."id" AS "s_id", s."tokenHash", s."userId", s."method", s."ipAddress", s."userAgent",
             s."createdAt" AS "s_createdAt", s."lastSeenAt", s."expiresAt", s."idleExpiresAt", s."revokedAt", s."revokeReason",
             u."email", u."passwordHash", u."name", u."role", u."emailVerified", u."lockedUntil", u."lockReason",
             u."createdAt" AS "u_createdAt", u."updatedAt"
        FROM "Session" s JOIN "User" u ON u."id" = s."userId"
       WHERE s."tokenHash" = ${tokenHash} AND s."revokedAt" IS NULL`;
    const r = rows[0];
    if (!r) return null;
    const session = {
      id: r.s_id, tokenHash: r.tokenHash, userId: r.userId, method: r.method, ipAddress: r.ipAddress, userAgent: r.userAgent,
      createdAt: r.s_createdAt, lastSeenAt: r.lastSeenAt, expiresAt: r.expiresAt, idleExpiresAt: r.idleExpiresAt,
      revokedAt: r.revokedAt, revokeReason: r.revokeReason,
    } as Session;
    const user = {
      id: r.userId, email: r.email, passwordHash: r.passwordHash, name: r.name, role: r.role, emailVerified: r.emailVerified,
      lockedUntil: r.lockedUntil, lockReason: r.lockReason, createdAt: r.u_createdAt,
      updatedAt: r.updatedAt,
    } as User;
    return { user, session };
  }

  function announce(revocations: SessionRevocation[]): number {
    if (revocations.length) onRevoked?.(revocations);
    audit.announce([auditOf.get(revocations)]);
    return revocations.length;
  }

  return {
    effectiveExpiry,

    /** Opens a session; runs inside the caller's transaction when one is given. */
    async issue(
      tx: Tx | Db,
      userId: string,
      method: AuthMethod,
      client: ClientInfo,
      secondFactor: { secondFactorPending: boolean; secondFactor: SecondFactor | null } = { secondFactorPending: false, secondFactor: null },
    ): Promise<IssuedSession> {
      // A shared lock on the user: a password reset or an admin lock (which update the row, then
      // revoke every session) either waits for this session to commit and revokes it, or commits
      // first and this sign-in comes after it. No session slips between the two.
      await tx.$executeRaw`SELECT 1 FROM "User" WHERE id = ${userId}::uuid FOR SHARE`;
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
     * The live session behind a bearer token, or null. One indexed lookup; a write at most once a
     * minute, unless `touch` is false (a liveness check that is not activity).
     */
    async authenticate(token: string, { touch = true } = {}): Promise<Viewer | null> {
      if (!token || token.length > 128) return null;
      const found = await findLiveByTokenHash(hashToken(token));
      if (!found) return null;
      const now = clock.now();
      const { user, session } = found;
      if (effectiveExpiry(session) <= now) return null;
      if (touch && now.getTime() - session.lastSeenAt.getTime() >= policy.touchIntervalMs) {
        const idleExpiresAt = new Date(Math.min(now.getTime() + policy.idleTimeoutMs, session.expiresAt.getTime()));
        await db.session.updateMany({
          where: { id: session.id, lastSeenAt: session.lastSeenAt },
          data: { lastSeenAt: now, idleExpiresAt },
        });
        Object.assign(session, { lastSeenAt: now, idleExpiresAt });
      }
      return { user, session };
    },

    /** Which of the given sessions are still live (not revoked, not expired): one query for all. */
    async liveIds(ids: string[]): Promise<Set<string>> {
      if (!ids.length) return new Set();
      const now = clock.now();
      const live = await db.session.findMany({
        where: { id: { in: ids }, revokedAt: null, expiresAt: { gt: now }, idleExpiresAt: { gt: now } },
        select: { id: true },
      });
      return new Set(live.map((s) => s.id));
    },

    /** Live sessions of a user, newest first. */
    async listLive(userId: string): Promise<Session[]> {
      const now = clock.now();
      return db.session.findMany({
        where: { userId, revokedAt: null, expiresAt: { gt: now }, idleExpiresAt: { gt: now } },
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      });
    },

    async revokeOne(userId: string, sessionId: string, reason: RevocationReason, by?: RevokedBy): Promise<boolean> {
      if (!UUID.test(sessionId)) return false;
      return announce(await revokeNow({ userId, id: sessionId }, reason, by)) > 0;
    },

    /**
     * "Sign out everywhere else": every other session ends, and so does every link or code mailed
     * before it (`voidMailedSecrets`), which would otherwise open a new one.
     */
    async revokeOthers(
      user: { id: string; email: string },
      keepSessionId: string,
      reason: RevocationReason,
      by?: RevokedBy,
    ): Promise<number> {
      const revoked = await db.$transaction(async (tx) => {
        await tokens.voidMailedSecrets(tx, user.email);
        return revokeWhere({ userId: user.id, NOT: { id: keepSessionId } }, reason, tx, by);
      });
      return announce(revoked);
    },

    /**
     * Revokes inside the caller's transaction; the caller passes the result to `announce` once the
     * transaction has committed, so nobody hears of a revocation that was rolled back.
     */
    revokeInTransaction: (tx: Tx, userId: string, reason: RevocationReason, keepSessionId?: string, by?: RevokedBy) =>
      revokeWhere(keepSessionId ? { userId, NOT: { id: keepSessionId } } : { userId }, reason, tx, by),

    announce,
  };
}

export type SessionsService = ReturnType<typeof createSessionsService>;
