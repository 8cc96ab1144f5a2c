import type { User } from '../../../../generated/prisma/client.ts';
import type { Tx } from '../../../../platform/db.ts';
import type { Scope } from '../../../../kernel/unit-of-work.ts';
import type { AuditService } from '../../../audit/audit.service.ts';
import type { ClientInfo } from '../../../../kernel/client.ts';
import { normalizeEmail } from '../../../users/email.ts';
import type { UsersService } from '../../../users/users.service.ts';
import { OAuthFailure } from './oauth-errors.ts';
import type { ExternalIdentity } from './provider-client.ts';

// Which user an external identity signs in as. Identities are keyed by (provider, subject), never
// by email: an email only links an identity to an existing account when the provider says it is
// verified, otherwise anyone who can type a victim's address at some provider would own the account.
// An unverified identity may create an account, but the address's owner proving it later (magic
// link, email code, reset, a verified identity) drops that identity's link with everything else.

const NAME_MAX = 100;

interface Deps {
  users: UsersService;
  audit: AuditService;
  now: () => Date;
}

function emailOf(identity: ExternalIdentity): string {
  if (!identity.email) throw new OAuthFailure('email_missing', 'the provider gave no email');
  try {
    return normalizeEmail(identity.email);
  } catch {
    throw new OAuthFailure('email_missing', 'the provider gave an invalid email');
  }
}

/** The identity's email normalized, or null when it has none usable. */
const emailOrNull = (identity: ExternalIdentity): string | null => {
  try {
    return emailOf(identity);
  } catch {
    return null;
  }
};

/** The account an identity is linked to, read under a share lock on the account (see below). */
async function linkedAccount(tx: Tx, provider: string, subject: string) {
  const where = { provider_subject: { provider, subject } };
  const known = await tx.oAuthAccount.findUnique({ where, select: { userId: true } });
  if (!known) return null;
  // A proof of the mailbox drops the links of an unverified account under an update lock on it:
  // once we hold the share lock, either that claim has committed (the link read again is gone) or
  // it waits for us and drops the code we issue.
  await tx.$executeRaw`SELECT 1 FROM "User" WHERE id = ${known.userId}::uuid FOR SHARE`;
  return (await tx.oAuthAccount.findUnique({ where, include: { user: true } }))?.user ?? null;
}

export function createOAuthAccounts({ users, audit, now }: Deps) {
  return {
    /** Finds, links or creates the user of `identity`, inside the caller's transaction. */
    async userFor(scope: Scope, provider: string, identity: ExternalIdentity, client: ClientInfo): Promise<User> {
      const { tx } = scope;
      const known = await linkedAccount(tx, provider, identity.subject);
      if (known) {
        // An identity that now vouches for the address of the unverified account it created is
        // itself a proof of the mailbox: everything else set on that account goes, it stays.
        if (known.emailVerified || !identity.emailVerified || emailOrNull(identity) !== known.email) {
          return known;
        }
        const keepIdentity = { provider, subject: identity.subject };
        return (await users.claimUnverified(scope, known, client, { via: 'OAUTH', keepIdentity })).user;
      }

      const email = emailOf(identity);
      const existing = await tx.user.findUnique({ where: { email } });
      if (existing && !identity.emailVerified) {
        throw new OAuthFailure('email_not_verified', 'an account has this email and the provider does not say it is verified');
      }
      // A provider vouching for the address takes over an account nobody had verified yet, dropping
      // whatever was set on it before (another provider's unverified identity among them).
      const claimed = existing ? await users.claimUnverified(scope, existing, client, { via: 'OAUTH' }) : null;
      const user =
        claimed?.user ??
        (await users.createInTransaction(tx, {
          email,
          passwordHash: null,
          name: identity.name?.slice(0, NAME_MAX) ?? null,
          emailVerified: identity.emailVerified,
        }));
      if (!existing) {
        await audit.record({ type: 'user.registered', userId: user.id, client, data: { method: 'OAUTH', provider } }, scope);
      }
      const at = now();
      await tx.oAuthAccount.create({
        data: { provider, subject: identity.subject, userId: user.id, email, createdAt: at, updatedAt: at },
      });
      await audit.record({ type: 'oauth.linked', userId: user.id, client, data: { provider, newAccount: !existing } }, scope);
      return user;
    },
  };
}

export type OAuthAccounts = ReturnType<typeof createOAuthAccounts>;
