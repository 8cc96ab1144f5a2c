import { sharedErrors } from '../../kernel/errors.ts';
import type { Config } from '../../config/env.ts';
import type { User } from '../../generated/prisma/client.ts';
import type { Clock } from '../../platform/clock.ts';
import type { Db, Tx } from '../../platform/db.ts';
import type { Transact } from '../../kernel/unit-of-work.ts';
import type { AuditService } from '../audit/audit.service.ts';
import type { MailService } from '../mail/mail.service.ts';
import type { SessionsService } from '../sessions/sessions.service.ts';
import { emailVerificationMail, link } from '../mail/templates.ts';
import type { ClientInfo } from '../../kernel/client.ts';
import type { OneTimeTokens } from '../tokens/one-time-tokens.ts';
import { makeRoleOnVerification } from '../users/users.service.ts';

// Proof that an account's address is its owner's: a single-use token mailed to it (24 hours);
// a newer mail voids the older link. Accounts made by magic link, email code or a provider that
// vouches for the address are verified already and get no mail.

interface Deps {
  db: Db;
  clock: Clock;
  transact: Transact;
  config: Pick<Config, 'frontendUrl' | 'tokens' | 'adminEmails'>;
  tokens: OneTimeTokens;
  mail: MailService;
  audit: AuditService;
  /** Told of the write, so cached views of the user's sessions are not served past it. */
  sessions: Pick<SessionsService, 'userChanged'>;
}

export function createVerificationService({ db, clock, transact, config, tokens, mail, audit, sessions }: Deps) {
  const roleOnVerification = makeRoleOnVerification(config.adminEmails);
  const ttlMs = config.tokens.emailVerificationTtlMs;

  mail.register('email-verification', async ({ email, userId }) => {
    const user = userId ? await db.user.findUnique({ where: { id: userId } }) : null;
    if (!user || user.emailVerified || user.email !== email) return null;
    const token = await db.$transaction(async (tx) => {
      // One mail of an address composed at a time, so a newer link always voids the older one.
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`EMAIL_VERIFICATION:${email}`}, 0))`;
      await tokens.voidAll('EMAIL_VERIFICATION', email, tx);
      return tokens.issue({ purpose: 'EMAIL_VERIFICATION', email, userId: user.id, ttlMs }, tx);
    });
    const url = link(config.frontendUrl, '/auth/verify-email', { token });
    return { to: email, mail: emailVerificationMail(url, Math.round(ttlMs / 3_600_000)) };
  });

  return {
    /** Queues the verification mail of a user whose address is not verified yet (inside `tx` when given). */
    async requestFor(user: Pick<User, 'id' | 'email' | 'emailVerified'>, tx?: Tx): Promise<void> {
      if (user.emailVerified) return;
      await mail.request({ template: 'email-verification', email: user.email, userId: user.id }, tx);
    },

    /**
     * Marks the address verified, only for the account the link was mailed to and only from one
     * of its sessions: following a link proves the mailbox to the session that holds it, never to
     * whoever registered the address. From another account, nothing is spent or changed.
     */
    async verify(viewerUserId: string, token: string, client: ClientInfo): Promise<User> {
      return transact(async (tx, uow) => {
        const claimed = await tokens.consume(tx, 'EMAIL_VERIFICATION', token);
        if (claimed.userId !== viewerUserId) throw sharedErrors.tokenInvalid();
        const owner = await tx.user.findUnique({ where: { id: viewerUserId } });
        if (!owner || owner.email !== claimed.email) throw sharedErrors.tokenInvalid();
        await sessions.userChanged(tx, owner.id);
        const user = await tx.user.update({
          where: { id: owner.id },
          data: { emailVerified: true, role: roleOnVerification(owner.email, owner.role), updatedAt: clock.now() },
        });
        await audit.record({ type: 'email.verified', userId: user.id, client }, { tx, uow });
        return user;
      });
    },
  };
}

export type VerificationService = ReturnType<typeof createVerificationService>;
