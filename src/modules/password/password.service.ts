import type { Config } from '../../config.ts';
import { AppError, badInput, unauthenticated } from '../../errors.ts';
import type { User } from '../../generated/prisma/client.ts';
import type { Clock } from '../../platform/clock.ts';
import type { Db } from '../../platform/db.ts';
import type { Logger } from '../../platform/logger.ts';
import type { Metrics } from '../../platform/metrics.ts';
import type { AuditRecord, AuditService } from '../audit/audit.service.ts';
import type { ClientInfo, SessionsService, Viewer } from '../sessions/sessions.service.ts';
import { FAILED_LOGINS_LOCK_REASON, lockedError } from '../users/account-lock.ts';
import { normalizeEmail } from '../users/email.ts';
import type { AuthResult } from '../users/users.service.ts';
import type { PasswordHasher } from './password-hasher.ts';
import { checkPasswordPolicy } from './password-policy.ts';

interface Deps {
  db: Db;
  clock: Clock;
  config: Pick<Config, 'password' | 'lockout'>;
  hasher: PasswordHasher;
  sessions: SessionsService;
  metrics: Metrics;
  log: Logger;
  audit: AuditService;
  /** Mails the "your password was changed" notice. */
  notifyPasswordChanged: (user: { id: string; email: string }) => Promise<void>;
}

/** One answer for an unknown email and a wrong password, so neither reveals which it was. */
const wrongCredentials = () => unauthenticated('Invalid email or password');

export function createPasswordService({ db, clock, config, hasher, sessions, metrics, log, audit, notifyPasswordChanged }: Deps) {
  const count = (result: string) => metrics.logins.inc({ method: 'PASSWORD', result });

  /** login.failed in the audit log: why, and the address tried when no account has it; never the password. */
  const auditFailure = (reason: string, email: string, user: User | null, client: ClientInfo) =>
    audit.record({ type: 'login.failed', userId: user?.id ?? null, client, data: { method: 'PASSWORD', reason, ...(!user && { email }) } });

  /**
   * Counts a password attempt before its result is known, so guesses sent in parallel cannot get
   * past the threshold: the threshold-th consecutive attempt locks the account at once (a correct
   * password lifts the lock again), and any attempt that finds it locked, or over the threshold,
   * is refused whatever its password. A success resets the count.
   */
  async function countAttempt(user: User, now: Date): Promise<'counted' | 'locking' | 'locked'> {
    const { threshold, durationMs } = config.lockout;
    const counted = await db.user.updateManyAndReturn({
      where: { id: user.id, OR: [{ lockedUntil: null }, { lockedUntil: { lte: now } }] },
      data: { failedLoginCount: { increment: 1 } },
      select: { failedLoginCount: true },
    });
    const attempts = counted[0]?.failedLoginCount;
    if (attempts === undefined || attempts < threshold) return attempts === undefined ? 'locked' : 'counted';
    // Over the threshold means the threshold-th attempt is locking the account right now; writing
    // the lock here too (only while the count is still over) leaves no stuck count if it never does.
    const lock = { lockedUntil: new Date(now.getTime() + durationMs), lockReason: FAILED_LOGINS_LOCK_REASON, failedLoginCount: 0 };
    if (attempts === threshold) {
      await db.user.update({ where: { id: user.id }, data: lock });
      return 'locking';
    }
    await db.user.updateMany({ where: { id: user.id, failedLoginCount: { gt: threshold } }, data: lock });
    return 'locked';
  }

  async function lockedNow(user: User, now: Date): Promise<AppError> {
    const fresh = await db.user.findUnique({ where: { id: user.id }, select: { lockedUntil: true } });
    const until = fresh?.lockedUntil && fresh.lockedUntil > now ? fresh.lockedUntil : new Date(now.getTime() + config.lockout.durationMs);
    return lockedError({ ...user, lockedUntil: until }, now)!;
  }

  async function recordLockout(user: User, now: Date, client: ClientInfo): Promise<void> {
    metrics.accountLockouts.inc();
    log.warn({ userId: user.id }, 'account locked after repeated failed logins');
    const until = new Date(now.getTime() + config.lockout.durationMs);
    await audit.record({ type: 'user.locked', userId: user.id, client, data: { reason: FAILED_LOGINS_LOCK_REASON, until } });
  }

  return {
    async login(input: { email: string; password: string }, client: ClientInfo): Promise<AuthResult> {
      const email = normalizeEmail(input.email);
      // Refuse absurd passwords before they reach the hasher.
      if (input.password.length > config.password.maxLength * 4) throw badInput('Password is too long');
      const user = await db.user.findUnique({ where: { email } });
      const now = clock.now();
      if (!user?.passwordHash) {
        await hasher.verifyDummy(input.password);
        count('failure');
        await auditFailure(user ? 'no_password' : 'unknown_email', email, user, client);
        throw wrongCredentials();
      }
      const locked = lockedError(user, now);
      if (locked) {
        await hasher.verifyDummy(input.password);
        count('locked');
        await auditFailure('locked', email, user, client);
        throw locked;
      }
      // The attempt is counted while the hash runs: the write adds no time that would tell a
      // known email from an unknown one, whose dummy verify has no write to make.
      const [attempt, matches] = await Promise.all([countAttempt(user, now), hasher.verify(user.passwordHash, input.password)]);
      if (attempt === 'locked') {
        count('locked');
        await auditFailure('locked', email, user, client);
        throw await lockedNow(user, now);
      }
      if (!matches) {
        count('failure');
        await auditFailure('wrong_password', email, user, client);
        if (attempt === 'locking') await recordLockout(user, now, client);
        throw wrongCredentials();
      }
      const passwordHash = hasher.needsRehash(user.passwordHash) ? await hasher.hash(input.password) : undefined;
      let audited: AuditRecord | undefined;
      const result = await db.$transaction(async (tx) => {
        // Only while the password is still the one just verified: a change committed meanwhile is
        // neither undone by the re-hash nor bypassed by a session opened with the old password.
        // Likewise the lock: only the one this attempt may have set is lifted, never an admin's
        // lock committed while the hash ran.
        const ownLock = new Date(now.getTime() + config.lockout.durationMs);
        const { count: updated } = await tx.user.updateMany({
          where: { id: user.id, passwordHash: user.passwordHash, OR: [{ lockedUntil: user.lockedUntil }, { lockedUntil: ownLock }] },
          data: { failedLoginCount: 0, lockedUntil: null, lockReason: null, ...(passwordHash && { passwordHash }) },
        });
        if (updated === 0) return null;
        const fresh = await tx.user.findUniqueOrThrow({ where: { id: user.id } });
        const { token, session } = await sessions.issue(tx, user.id, 'PASSWORD', client);
        audited = await audit.record({ type: 'login.succeeded', userId: user.id, client, data: { method: 'PASSWORD', sessionId: session.id } }, tx);
        return { token, user: fresh, session };
      });
      if (!result) {
        count('failure');
        await auditFailure('changed_meanwhile', email, user, client);
        if (attempt === 'locking') await recordLockout(user, now, client);
        throw wrongCredentials();
      }
      audit.announce([audited]);
      count('success');
      return result;
    },

    /**
     * Sets a new password. A user who has one must give it; a passwordless user sets a first one
     * without. Every other session of the user is revoked.
     */
    async changePassword(
      viewer: Viewer,
      input: { currentPassword?: string | null; newPassword: string },
      client: ClientInfo | null = null,
    ): Promise<void> {
      const { user, session } = viewer;
      checkPasswordPolicy(input.newPassword, config.password);
      if (user.passwordHash) {
        const current = input.currentPassword;
        if (current == null || current.length > config.password.maxLength * 4) {
          throw badInput('The current password is required');
        }
        if (!(await hasher.verify(user.passwordHash, current))) throw badInput('The current password is wrong');
      }
      const passwordHash = await hasher.hash(input.newPassword);
      const { revoked, audited } = await db.$transaction(async (tx) => {
        await tx.user.update({ where: { id: user.id }, data: { passwordHash, updatedAt: clock.now() } });
        const data = { hadPassword: user.passwordHash !== null };
        const record = await audit.record({ type: 'password.changed', userId: user.id, client, data }, tx);
        return { revoked: await sessions.revokeInTransaction(tx, user.id, 'PASSWORD_CHANGED', session.id, { client }), audited: record };
      });
      sessions.announce(revoked);
      audit.announce([audited]);
      await notifyPasswordChanged(user);
    },
  };
}

export type PasswordService = ReturnType<typeof createPasswordService>;
