import { sharedErrors } from '../../kernel/errors.ts';
import { adminErrors } from './admin-errors.ts';
import type { Role, Session, User } from '../../generated/prisma/client.ts';
import type { Clock } from '../../platform/clock.ts';
import type { Db, Tx } from '../../platform/db.ts';
import type { AuditService } from '../audit/audit.service.ts';
import type { Scope, Transact } from '../../kernel/unit-of-work.ts';
import { after, isUuid, newestFirst, pageSize, toPage, type Page } from '../../kernel/pagination.ts';
import type { SessionsService } from '../sessions/sessions.service.ts';
import { PASSWORD_SCOPE, type Throttle } from '../rate-limit/throttle.ts';
import { LOCKED_UNTIL_UNLOCKED } from '../users/account-lock.ts';
import { normalizeEmail } from '../users/email.ts';
import { normalizeName, type UsersService } from '../users/users.service.ts';
import { guardAdmins, type Actor } from './admin-guard.ts';

// User management for admins (and the bootstrap CLI). Who may call these is declared once, on
// the GraphQL fields; the rules here are about what may be done to whom: nobody locks, demotes or
// deletes themselves, and the last active admin stays. Every action is audited in its transaction
// with the admin as actor and the user as target.

export type { Actor };

export interface AdminUserView {
  user: User;
  /** Null when the account is not locked now; `until` null for a lock that lasts until unlocked. */
  lock: { until: Date | null; reason: string | null } | null;
  sessions: Session[];
  oauthProviders: string[];
  /** Failed passwords counted against the address now (the sign-in throttle). */
  failedLoginCount: number;
}

export type UserPage = Page<User> & { totalCount: number };

interface Deps {
  db: Db;
  clock: Clock;
  transact: Transact;
  users: UsersService;
  sessions: SessionsService;
  audit: AuditService;
  throttle: Throttle;
}

const QUERY_MAX = 200;
const LOCK_REASON_MAX = 200;
const DEFAULT_LOCK_REASON = 'Locked by an administrator';

/** The answer for an id that is malformed or names no user: the same, so neither is a crash. */

export function createAdminService({ db, clock, transact, users, sessions, audit, throttle }: Deps) {
  const record = (scope: Scope, actor: Actor, type: string, userId: string, data?: Record<string, unknown>) =>
    audit.record({ type, userId, actorId: actor.userId, client: actor.client, data: { ...data, ...(actor.via && { via: actor.via }) } }, scope);

  async function existing(tx: Tx | Db, id: string): Promise<User> {
    const user = isUuid(id) ? await tx.user.findUnique({ where: { id } }) : null;
    if (!user) throw sharedErrors.noSuchUser();
    return user;
  }

  function lockOf(user: User): AdminUserView['lock'] {
    if (!user.lockedUntil || user.lockedUntil <= clock.now()) return null;
    return { until: user.lockedUntil >= LOCKED_UNTIL_UNLOCKED ? null : user.lockedUntil, reason: user.lockReason };
  }

  async function view(user: User): Promise<AdminUserView> {
    const [live, identities, failedLoginCount] = await Promise.all([
      sessions.listLive(user.id),
      db.oAuthAccount.findMany({ where: { userId: user.id }, select: { provider: true }, orderBy: { provider: 'asc' } }),
      throttle.failures(user.email, PASSWORD_SCOPE),
    ]);
    const oauthProviders = [...new Set(identities.map((i) => i.provider))];
    return { user, lock: lockOf(user), sessions: live, oauthProviders, failedLoginCount };
  }

  return {
    /** Users newest first; `query` matches a substring of the email or name, case-insensitively. */
    async listUsers(args: { first?: number | null; after?: string | null; query?: string | null; role?: Role | null }): Promise<UserPage> {
      const size = pageSize(args.first);
      const text = args.query?.trim();
      if (text && text.length > QUERY_MAX) throw adminErrors.queryTooLong(QUERY_MAX);
      // Prisma passes `contains` to ILIKE as it is: LIKE's wildcards must match themselves.
      const pattern = text?.replace(/[\\%_]/g, '\\$&');
      const filter = {
        ...(args.role && { role: args.role }),
        ...(pattern && {
          OR: [{ email: { contains: pattern, mode: 'insensitive' as const } }, { name: { contains: pattern, mode: 'insensitive' as const } }],
        }),
      };
      const [rows, totalCount] = await Promise.all([
        db.user.findMany({ where: { AND: [filter, after(args.after)] }, orderBy: newestFirst, take: size + 1 }),
        db.user.count({ where: filter }),
      ]);
      return { ...toPage(rows, size), totalCount };
    },

    /** One user by id or exact email (exactly one of them); null when there is none. */
    async findUser(by: { id?: string | null; email?: string | null }): Promise<AdminUserView | null> {
      if ((by.id == null) === (by.email == null)) throw adminErrors.eitherIdOrEmail();
      if (by.id != null && !isUuid(by.id)) return null;
      const where = by.id != null ? { id: by.id } : { email: normalizeEmail(by.email!) };
      const user = await db.user.findUnique({ where });
      return user && view(user);
    },

    async createUser(
      actor: Actor,
      input: { email: string; password?: string | null; name?: string | null; role?: Role | null; emailVerified?: boolean | null },
    ): Promise<User> {
      const { email, name, passwordHash } = await users.prepareNewAccount(input);
      return transact(async (tx, uow) => {
        const user = await users.createInTransaction(tx, {
          email,
          passwordHash,
          name,
          emailVerified: input.emailVerified ?? false,
          ...(input.role && { role: input.role }),
        });
        await record({ tx, uow }, actor, 'admin.user.created', user.id, { email, role: user.role, hasPassword: passwordHash !== null });
        return user;
      });
    },

    /** Changes name, role or emailVerified; null leaves role and emailVerified as they are. */
    async updateUser(actor: Actor, id: string, input: { name?: string | null; role?: Role | null; emailVerified?: boolean | null }): Promise<User> {
      const name = input.name === undefined ? undefined : normalizeName(input.name);
      return transact(async (tx, uow) => {
        const user = input.role === 'USER' ? await guardAdmins(tx, actor, id, 'demote', clock.now()) : await existing(tx, id);
        const data: { name?: string | null; role?: Role; emailVerified?: boolean } = {};
        if (name !== undefined && name !== user.name) data.name = name;
        if (input.role != null && input.role !== user.role) data.role = input.role;
        if (input.emailVerified != null && input.emailVerified !== user.emailVerified) data.emailVerified = input.emailVerified;
        if (!Object.keys(data).length) return user;
        const changes = Object.fromEntries(Object.entries(data).map(([field, to]) => [field, { from: user[field as keyof typeof data], to }]));
        await sessions.userChanged(tx, user.id);
        const updated = await tx.user.update({ where: { id: user.id }, data: { ...data, updatedAt: clock.now() } });
        await record({ tx, uow }, actor, 'admin.user.updated', user.id, { changes });
        return updated;
      });
    },

    /** Locks the account until `until` (or until unlocked) and revokes its sessions (USER_LOCKED). */
    async lockUser(actor: Actor, id: string, input: { until?: Date | null; reason?: string | null }): Promise<AdminUserView> {
      const now = clock.now();
      if (input.until && input.until <= now) throw adminErrors.untilInThePast();
      if (input.until && input.until >= LOCKED_UNTIL_UNLOCKED) throw adminErrors.untilTooFar();
      const reason = input.reason?.trim() || DEFAULT_LOCK_REASON;
      if (reason.length > LOCK_REASON_MAX) throw adminErrors.reasonTooLong(LOCK_REASON_MAX);
      const locked = await transact(async (tx, uow) => {
        await guardAdmins(tx, actor, id, 'lock', now);
        // The row is written before the sessions are revoked: a sign-in committing meanwhile holds
        // a share lock on it (sessions.issue), so it is either revoked here or sees the lock.
        const user = await tx.user.update({
          where: { id },
          data: { lockedUntil: input.until ?? LOCKED_UNTIL_UNLOCKED, lockReason: reason, updatedAt: now },
        });
        await record({ tx, uow }, actor, 'user.locked', id, { reason, until: input.until ?? null });
        await sessions.revokeInTransaction({ tx, uow }, id, 'USER_LOCKED', undefined, { actorId: actor.userId, client: actor.client });
        return user;
      });
      return view(locked);
    },

    async unlockUser(actor: Actor, id: string): Promise<AdminUserView> {
      const unlocked = await transact(async (tx, uow) => {
        const user = await existing(tx, id);
        const wasLocked = lockOf(user) !== null;
        // An unlock gives a fresh start: failed passwords no longer hold the address back either.
        await throttle.clear(user.email, [PASSWORD_SCOPE], tx);
        await sessions.userChanged(tx, id);
        const updated = await tx.user.update({ where: { id }, data: { lockedUntil: null, lockReason: null, updatedAt: clock.now() } });
        await record({ tx, uow }, actor, 'user.unlocked', id, { wasLocked });
        return updated;
      });
      return view(unlocked);
    },

    /**
     * Revokes the user's sessions (USER_DELETED) and deletes the user; sessions, tokens and OAuth
     * identities go with it by cascade, and tokens still bound to the address (a magic link sent
     * before) are deleted too, so none can recreate the account. The audit log keeps its events.
     */
    async deleteUser(actor: Actor, id: string): Promise<boolean> {
      return transact(async (tx, uow) => {
        const user = await guardAdmins(tx, actor, id, 'delete', clock.now());
        await record({ tx, uow }, actor, 'admin.user.deleted', id, { email: user.email, role: user.role });
        await sessions.revokeInTransaction({ tx, uow }, id, 'USER_DELETED', undefined, { actorId: actor.userId, client: actor.client });
        await tx.oneTimeToken.deleteMany({ where: { OR: [{ userId: id }, { email: user.email }] } });
        await tx.user.delete({ where: { id } });
        return true;
      });
    },

    /** Revokes every live session of the user (REVOKED_BY_ADMIN); returns how many. */
    async revokeSessions(actor: Actor, userId: string): Promise<number> {
      return transact(async (tx, uow) => {
        await existing(tx, userId);
        const revoked = await sessions.revokeInTransaction({ tx, uow }, userId, 'REVOKED_BY_ADMIN', undefined, { actorId: actor.userId, client: actor.client });
        await record({ tx, uow }, actor, 'admin.sessions.revoked', userId, { count: revoked.length });
        return revoked.length;
      });
    },

    /** Bootstrap (CLI): gives an existing account the ADMIN role. */
    async promote(actor: Actor, rawEmail: string): Promise<{ user: User; changed: boolean }> {
      const email = normalizeEmail(rawEmail);
      return transact(async (tx, uow) => {
        const user = await tx.user.findUnique({ where: { email } });
        if (!user) throw adminErrors.noUserWithEmail();
        if (user.role === 'ADMIN') return { user, changed: false };
        await sessions.userChanged(tx, user.id);
        const updated = await tx.user.update({ where: { id: user.id }, data: { role: 'ADMIN', updatedAt: clock.now() } });
        await record({ tx, uow }, actor, 'admin.user.updated', user.id, { changes: { role: { from: user.role, to: 'ADMIN' } } });
        return { user: updated, changed: true };
      });
    },
  };
}

export type AdminService = ReturnType<typeof createAdminService>;
