import type { Config } from '../../../../config/env.ts';
import type { User } from '../../../../generated/prisma/client.ts';
import type { Clock } from '../../../../platform/clock.ts';
import type { Db, Tx } from '../../../../platform/db.ts';
import type { Metrics } from '../../../../platform/metrics.ts';
import type { AuditService } from '../../../audit/audit.service.ts';
import type { SessionsService, Viewer } from '../../../sessions/sessions.service.ts';
import type { ClientInfo } from '../../../../kernel/client.ts';
import { PASSWORD_SCOPE, type Throttle } from '../../../rate-limit/throttle.ts';
import { lockedError } from '../../../users/account-lock.ts';
import { normalizeEmail } from '../../../users/email.ts';
import type { AuthResult } from '../../../../kernel/viewer.ts';
import type { Claim, SignIn } from '../../sign-in.ts';
import type { Transact } from '../../../../kernel/unit-of-work.ts';
import type { PasswordHasher } from './password-hasher.ts';
import { passwordErrors } from './password-errors.ts';
import { checkPasswordPolicy } from './password-policy.ts';

interface Deps {
  db: Db;
  clock: Clock;
  transact: Transact;
  config: Pick<Config, 'password' | 'throttle'>;
  hasher: PasswordHasher;
  sessions: SessionsService;
  metrics: Metrics;
  audit: AuditService;
  throttle: Throttle;
  signIn: SignIn;
  /** Mails the "your password was changed" notice. */
  notifyPasswordChanged: (user: { id: string; email: string }) => Promise<void>;
  /** Voids the user's outstanding reset links, magic links and email codes, inside the change's transaction. */
  voidMailedSecrets: (tx: Tx, email: string) => Promise<void>;
}

/** Thrown inside the sign-in transaction to roll it back when the password or lock changed meanwhile. */
const CHANGED_MEANWHILE = Symbol('password or lock changed during sign-in');

export function createPasswordService({
  db,
  clock,
  transact,
  config,
  hasher,
  sessions,
  metrics,
  audit,
  throttle,
  signIn,
  notifyPasswordChanged,
  voidMailedSecrets,
}: Deps) {
  const count = (result: string) => metrics.logins.inc({ method: 'PASSWORD', result });
  const passwordBudget = [{ scope: PASSWORD_SCOPE, policy: config.throttle.password }];

  /** login.failed in the audit log: why, and the address tried when no account has it; never the password. */
  const auditFailure = (reason: string, email: string, user: User | null, client: ClientInfo) =>
    audit.record({ type: 'login.failed', userId: user?.id ?? null, client, data: { method: 'PASSWORD', reason, ...(!user && { email }) } });

  /**
   * The password's claim in the sign-in transaction: the account, only while the password is still
   * the one just verified and the account is not locked (a change or an admin lock committed while
   * the hash ran wins). A right password forgets the address's failures.
   */
  const stillValid =
    (user: User & { passwordHash: string }, rehash: string | undefined, now: Date): Claim =>
    async (tx) => {
      // The throttle row first, then the user: the order every proof of the mailbox takes them in.
      await throttle.clear(user.email, [PASSWORD_SCOPE], tx);
      // Locking the row re-reads it once a concurrent reset or lock has committed: the check then
      // sees the new password or the lock, and no session is opened after a reset revoked them all.
      // The second factor is read under the same lock, not from before the hash.
      type Row = Pick<User, 'totpEnabledAt'>;
      const [current] = rehash
        ? await tx.$queryRaw<Row[]>`
            UPDATE "User" SET "passwordHash" = ${rehash}
            WHERE id = ${user.id}::uuid AND "passwordHash" = ${user.passwordHash} AND ("lockedUntil" IS NULL OR "lockedUntil" <= ${now})
            RETURNING "totpEnabledAt"`
        : await tx.$queryRaw<Row[]>`
            SELECT "totpEnabledAt" FROM "User"
            WHERE id = ${user.id}::uuid AND "passwordHash" = ${user.passwordHash} AND ("lockedUntil" IS NULL OR "lockedUntil" <= ${now})
            FOR SHARE`;
      if (!current) throw CHANGED_MEANWHILE; // rolls the throttle back too
      return { user: { ...user, passwordHash: rehash ?? user.passwordHash, totpEnabledAt: current.totpEnabledAt }, readUnderLock: true };
    };

  return {
    /**
     * Password sign-in. Every attempt for an address, known or not, first reserves a failure in
     * its throttle (RATE_LIMITED past it, the same answer either way); a right password clears it.
     * LOCKED (an admin's lock) is told only to whoever gives the right password.
     */
    async login(input: { email: string; password: string }, client: ClientInfo): Promise<AuthResult> {
      const email = normalizeEmail(input.email);
      // Refuse absurd passwords before they reach the hasher.
      if (input.password.length > config.password.maxLength * 4) throw passwordErrors.absurdlyLong();
      try {
        await throttle.reserve(email, passwordBudget);
      } catch (err) {
        count('throttled');
        throw err;
      }
      const user = await db.user.findUnique({ where: { email } });
      const now = clock.now();
      if (!user?.passwordHash) {
        await hasher.verifyDummy(input.password);
        count('failure');
        await auditFailure(user ? 'no_password' : 'unknown_email', email, user, client);
        throw passwordErrors.wrongCredentials();
      }
      if (!(await hasher.verify(user.passwordHash, input.password))) {
        count('failure');
        await auditFailure('wrong_password', email, user, client);
        throw passwordErrors.wrongCredentials();
      }
      const locked = lockedError(user, now);
      if (locked) {
        await throttle.release(email, [PASSWORD_SCOPE]);
        count('locked');
        await auditFailure('locked', email, user, client);
        throw locked;
      }
      const rehash = hasher.needsRehash(user.passwordHash) ? await hasher.hash(input.password) : undefined;
      try {
        return await signIn('PASSWORD', client, stillValid({ ...user, passwordHash: user.passwordHash }, rehash, now));
      } catch (err) {
        if (err !== CHANGED_MEANWHILE) throw err;
        await auditFailure('changed_meanwhile', email, user, client);
        throw passwordErrors.wrongCredentials();
      }
    },

    /**
     * Sets a new password. A user who has one must give it; a passwordless user sets a first one
     * without. Every other session of the user is revoked.
     */
    async changePassword(viewer: Viewer, input: { currentPassword?: string | null; newPassword: string }, client: ClientInfo | null = null): Promise<void> {
      const { user, session } = viewer;
      checkPasswordPolicy(input.newPassword, config.password);
      if (user.passwordHash) {
        const current = input.currentPassword;
        if (current == null || current.length > config.password.maxLength * 4) {
          throw passwordErrors.currentRequired();
        }
        if (!(await hasher.verify(user.passwordHash, current))) throw passwordErrors.currentWrong();
      }
      const passwordHash = await hasher.hash(input.newPassword);
      await transact(async (tx, uow) => {
        // Links mailed before the change must not outlive it (voided first: the lock order of sign-ins).
        await voidMailedSecrets(tx, user.email);
        await tx.user.update({ where: { id: user.id }, data: { passwordHash, updatedAt: clock.now() } });
        const data = { hadPassword: user.passwordHash !== null };
        await audit.record({ type: 'password.changed', userId: user.id, client, data }, { tx, uow });
        await sessions.revokeInTransaction({ tx, uow }, user.id, 'PASSWORD_CHANGED', session.id, { client });
      });
      await notifyPasswordChanged(user);
    },
  };
}

export type PasswordService = ReturnType<typeof createPasswordService>;
