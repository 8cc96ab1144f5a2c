import { sharedErrors } from '../../kernel/errors.ts';
import type { Config } from '../../config/env.ts';
import type { Clock } from '../../platform/clock.ts';
import type { Db } from '../../platform/db.ts';
import type { Transact } from '../../kernel/unit-of-work.ts';
import type { AuditService } from '../audit/audit.service.ts';
import type { MailService } from '../mail/mail.service.ts';
import { link, passwordChangedMail, passwordResetMail } from '../mail/templates.ts';
import type { PasswordHasher } from '../auth/strategies/password/password-hasher.ts';
import { checkPasswordPolicy } from '../auth/strategies/password/password-policy.ts';
import type { SessionsService } from '../sessions/sessions.service.ts';
import type { ClientInfo } from '../../kernel/client.ts';
import type { OneTimeTokens } from '../tokens/one-time-tokens.ts';
import { PASSWORD_SCOPE, type Throttle } from '../rate-limit/throttle.ts';
import { normalizeEmail } from '../users/email.ts';
import type { UsersService } from '../users/users.service.ts';

// Password recovery by a 15-minute, single-use token mailed to the account's address. A new
// request voids the tokens mailed before it (only the latest link works), and a reset voids every
// other one. The reset proves the mailbox (an unverified account is claimed from whoever set it
// up), sets the password, voids every mailed secret, forgets failed passwords, revokes every
// session and does not sign in; an admin's lock stays. A passwordless account sets its first
// password this way.

interface Deps {
  db: Db;
  clock: Clock;
  transact: Transact;
  config: Pick<Config, 'frontendUrl' | 'tokens' | 'password'>;
  hasher: PasswordHasher;
  tokens: OneTimeTokens;
  mail: MailService;
  sessions: SessionsService;
  audit: AuditService;
  users: UsersService;
  throttle: Throttle;
}

export function createRecoveryService({ db, clock, transact, config, hasher, tokens, mail, sessions, audit, users, throttle }: Deps) {
  mail.register('password-reset', async ({ email }) => {
    const user = await db.user.findUnique({ where: { email }, select: { id: true } });
    if (!user) return null; // unknown address: no token, no mail (the request answered true all the same)
    const token = await db.$transaction(async (tx) => {
      // Mails of one address are composed one at a time (the worker runs jobs side by side):
      // otherwise two requests at once void nothing of each other and leave two live links.
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`PASSWORD_RESET:${email}`}, 0))`;
      await tokens.voidAll('PASSWORD_RESET', email, tx);
      return tokens.issue({ purpose: 'PASSWORD_RESET', email, userId: user.id, ttlMs: config.tokens.passwordResetTtlMs }, tx);
    });
    const url = link(config.frontendUrl, '/auth/reset-password', { token });
    return { to: email, mail: passwordResetMail(url, config.tokens.passwordResetTtlMs / 60_000) };
  });

  mail.register('password-changed', async ({ email }) => ({
    to: email,
    mail: passwordChangedMail(link(config.frontendUrl, '/auth/forgot-password', {})),
  }));

  /** The "your password was changed" notice, after a change or a reset. */
  const notifyPasswordChanged = (user: { id: string; email: string }) => mail.request({ template: 'password-changed', email: user.email, userId: user.id });

  return {
    /** Always succeeds for a well-formed address; only a known one gets a mail. */
    async request(rawEmail: string): Promise<void> {
      await mail.request({ template: 'password-reset', email: normalizeEmail(rawEmail) });
    },

    async reset(input: { token: string; newPassword: string }, client: ClientInfo): Promise<void> {
      checkPasswordPolicy(input.newPassword, config.password);
      const passwordHash = await hasher.hash(input.newPassword);
      const user = await transact(async (tx, uow) => {
        const claimed = await tokens.consume(tx, 'PASSWORD_RESET', input.token);
        const found = claimed.userId ? await tx.user.findUnique({ where: { id: claimed.userId } }) : null;
        // The token is bound to the address it was mailed to: an address changed since voids it.
        if (!found || found.email !== claimed.email) throw sharedErrors.tokenInvalid();
        // Rows are locked in the order every sign-in takes them (mailed secrets, throttle, user),
        // so a sign-in racing this reset waits for it instead of deadlocking with it.
        await tokens.voidMailedSecrets(tx, found.email);
        await throttle.clear(found.email, [PASSWORD_SCOPE], tx);
        // The link proves the mailbox: whatever someone else set on an unverified account before
        // (password, sessions, OAuth links) is dropped first.
        const takeover = await users.claimUnverified({ tx, uow }, found, client, { via: 'PASSWORD_RESET' });
        const user = await tx.user.update({ where: { id: found.id }, data: { passwordHash, updatedAt: clock.now() } });
        const revoked = await sessions.revokeInTransaction({ tx, uow }, user.id, 'PASSWORD_RESET');
        const sessionsRevoked = takeover.revoked.length + revoked.length;
        await audit.record({ type: 'password.reset', userId: user.id, client, data: { sessionsRevoked } }, { tx, uow });
        return user;
      });
      await notifyPasswordChanged(user);
    },

    notifyPasswordChanged,
  };
}

export type RecoveryService = ReturnType<typeof createRecoveryService>;
