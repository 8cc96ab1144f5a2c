import type { Config } from '../../config.ts';
import { AppError, badInput, unauthenticated } from '../../errors.ts';
import type { User } from '../../generated/prisma/client.ts';
import type { Clock } from '../../platform/clock.ts';
import type { Db } from '../../platform/db.ts';
import type { Logger } from '../../platform/logger.ts';
import type { Metrics } from '../../platform/metrics.ts';
import type { ClientInfo, SessionsService, Viewer } from '../sessions/sessions.service.ts';
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
}

/** One answer for an unknown email and a wrong password, so neither reveals which it was. */
const wrongCredentials = () => unauthenticated('Invalid email or password');

export function createPasswordService({ db, clock, config, hasher, sessions, metrics, log }: Deps) {
  const count = (result: string) => metrics.logins.inc({ method: 'PASSWORD', result });

  function lockedError(user: User, now: Date): AppError | null {
    if (!user.lockedUntil || user.lockedUntil <= now) return null;
    return new AppError('LOCKED', 'This account is locked', {
      retryAfter: (user.lockedUntil.getTime() - now.getTime()) / 1000,
    });
  }

  /** Counts a failed password; the threshold-th consecutive failure locks the account. */
  async function recordFailure(user: User): Promise<void> {
    const updated = await db.user.update({
      where: { id: user.id },
      data: { failedLoginCount: { increment: 1 } },
      select: { failedLoginCount: true },
    });
    if (updated.failedLoginCount < config.lockout.threshold) return;
    const lockedUntil = new Date(clock.now().getTime() + config.lockout.durationMs);
    await db.user.update({
      where: { id: user.id },
      data: { lockedUntil, lockReason: 'Too many failed sign-in attempts', failedLoginCount: 0 },
    });
    metrics.accountLockouts.inc();
    log.warn({ userId: user.id }, 'account locked after repeated failed logins');
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
        throw wrongCredentials();
      }
      const locked = lockedError(user, now);
      if (locked) {
        await hasher.verifyDummy(input.password);
        count('locked');
        throw locked;
      }
      if (!(await hasher.verify(user.passwordHash, input.password))) {
        await recordFailure(user);
        count('failure');
        throw wrongCredentials();
      }
      const passwordHash = hasher.needsRehash(user.passwordHash) ? await hasher.hash(input.password) : undefined;
      const result = await db.$transaction(async (tx) => {
        // Only while the password is still the one just verified: a change committed meanwhile is
        // neither undone by the re-hash nor bypassed by a session opened with the old password.
        const { count: updated } = await tx.user.updateMany({
          where: { id: user.id, passwordHash: user.passwordHash },
          data: { failedLoginCount: 0, lockedUntil: null, lockReason: null, ...(passwordHash && { passwordHash }) },
        });
        if (updated === 0) return null;
        const fresh = await tx.user.findUniqueOrThrow({ where: { id: user.id } });
        const { token, session } = await sessions.issue(tx, user.id, 'PASSWORD', client);
        return { token, user: fresh, session };
      });
      if (!result) {
        count('failure');
        throw wrongCredentials();
      }
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
      const revoked = await db.$transaction(async (tx) => {
        await tx.user.update({ where: { id: user.id }, data: { passwordHash, updatedAt: clock.now() } });
        return sessions.revokeInTransaction(tx, user.id, 'PASSWORD_CHANGED', session.id);
      });
      sessions.announce(revoked);
    },
  };
}

export type PasswordService = ReturnType<typeof createPasswordService>;
