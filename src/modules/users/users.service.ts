import type { Config } from '../../config/env.ts';
import { userErrors } from './user-errors.ts';
import type { AuthMethod, Role, User } from '../../generated/prisma/client.ts';
import type { Clock } from '../../platform/clock.ts';
import type { Db, Tx } from '../../platform/db.ts';
import type { Scope } from '../../kernel/unit-of-work.ts';
import type { AuditService } from '../audit/audit.service.ts';
import type { PasswordHasher } from '../auth/strategies/password/password-hasher.ts';
import { checkPasswordPolicy } from '../auth/strategies/password/password-policy.ts';
import type { SessionRevocation, SessionsService } from '../sessions/sessions.service.ts';
import type { ClientInfo } from '../../kernel/client.ts';
import { lockedError } from './account-lock.ts';
import { normalizeEmail } from './email.ts';

/** How the owner of an address proved it, and the OAuth identity that proof signs in with, if any. */
export interface MailboxProof {
  via: AuthMethod | 'PASSWORD_RESET';
  keepIdentity?: { provider: string; subject: string };
}

/** The account after a claim, and the sessions the claim revoked (none for an account already verified). */
export interface Claim {
  user: User;
  revoked: SessionRevocation[];
}

interface Deps {
  db: Db;
  clock: Clock;
  config: Pick<Config, 'adminEmails' | 'password'>;
  hasher: PasswordHasher;
  sessions: SessionsService;
  audit: AuditService;
}

const NAME_MAX = 100;

export function normalizeName(raw: string | null | undefined): string | null {
  if (raw == null) return null;
  const name = raw.trim();
  if (name.length > NAME_MAX) throw userErrors.nameTooLong(NAME_MAX);
  return name || null;
}

function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: string } | null)?.code === 'P2002';
}

/** ADMIN_EMAILS give the ADMIN role once the address is verified; other roles stay as they are. */
export function makeRoleOnVerification(adminEmails: readonly string[]) {
  return (email: string, current: Role): Role => (adminEmails.includes(email) ? 'ADMIN' : current);
}

export function createUsersService({ db, clock, config, hasher, sessions, audit }: Deps) {
  const roleOnVerification = makeRoleOnVerification(config.adminEmails);
  return {
    /**
     * Creates a user inside the caller's transaction. The role, unless given, comes from
     * ADMIN_EMAILS, and only for a verified address: anyone can register any address, so an
     * unverified one earns the role when it is verified (see `roleOnVerification`).
     */
    async createInTransaction(
      tx: Tx,
      input: { email: string; passwordHash: string | null; name: string | null; emailVerified: boolean; role?: Role },
    ): Promise<User> {
      const now = clock.now();
      try {
        return await tx.user.create({
          data: {
            ...input,
            role: input.role ?? (input.emailVerified ? roleOnVerification(input.email, 'USER') : 'USER'),
            createdAt: now,
            updatedAt: now,
          },
        });
      } catch (err) {
        if (isUniqueViolation(err)) throw userErrors.emailTaken();
        throw err;
      }
    },

    /**
     * Checks and prepares the fields of a new account (registration, an admin's creation): email
     * and name normalized, password policy, CONFLICT for a taken address — before the slow hash;
     * the unique index still settles a race.
     */
    async prepareNewAccount(input: { email: string; password?: string | null; name?: string | null }) {
      const email = normalizeEmail(input.email);
      const name = normalizeName(input.name);
      if (input.password != null) checkPasswordPolicy(input.password, config.password);
      if (await db.user.findUnique({ where: { email }, select: { id: true } })) {
        throw userErrors.emailTaken();
      }
      const passwordHash = input.password != null ? await hasher.hash(input.password) : null;
      return { email, name, passwordHash };
    },

    /**
     * The account of an address whose ownership was just proven (magic link, email code): found
     * and marked verified, or created verified, inside the caller's transaction. A locked account
     * stays locked. A new account is audited as user.registered in the same transaction.
     */
    async verifiedAccountFor(scope: Scope, email: string, via?: { method: AuthMethod; client: ClientInfo }): Promise<User> {
      const existing = await scope.tx.user.findUnique({ where: { email } });
      if (!existing) {
        const user = await this.createInTransaction(scope.tx, { email, passwordHash: null, name: null, emailVerified: true });
        await audit.record({ type: 'user.registered', userId: user.id, client: via?.client, data: { method: via?.method ?? null } }, scope);
        return user;
      }
      const locked = lockedError(existing, clock.now());
      if (locked) throw locked;
      return (await this.claimUnverified(scope, existing, via?.client, via && { via: via.method })).user;
    },

    /**
     * The proven owner of an address takes over an account nobody had verified yet: every
     * credential set on it before this proof, possibly by someone else, is dropped — the password,
     * every session, every OAuth link (but `proof.keepIdentity`, the identity whose verified
     * sign-in is this proof) and every oauth_code not yet traded — so a pre-registered account is
     * never shared with its real owner. Inside the caller's transaction (any proof of the mailbox:
     * magic link, email code, verified OAuth, password reset). A verified account is returned as it is.
     */
    async claimUnverified(scope: Scope, existing: User, client?: ClientInfo | null, proof?: MailboxProof): Promise<Claim> {
      const { tx } = scope;
      if (existing.emailVerified) return { user: existing, revoked: [] };
      // The row lock orders this claim with every sign-in of the account (each takes a share lock
      // first): one that committed before is dropped below, one that waits finds nothing left.
      const [current] = await tx.$queryRaw<Array<{ emailVerified: boolean; hadPassword: boolean; hadSecondFactor: boolean }>>`
        SELECT "emailVerified", "passwordHash" IS NOT NULL AS "hadPassword", "totpSecret" IS NOT NULL AS "hadSecondFactor"
          FROM "User" WHERE id = ${existing.id}::uuid FOR UPDATE`;
      // Deleted meanwhile: the caller's sign-in is retried once on CONFLICT and finds no account.
      if (!current) throw userErrors.changedDuringSignIn();
      if (current.emailVerified) {
        return { user: await tx.user.findUniqueOrThrow({ where: { id: existing.id } }), revoked: [] };
      }
      const user = await tx.user.update({
        where: { id: existing.id },
        data: {
          emailVerified: true,
          passwordHash: null,
          role: roleOnVerification(existing.email, existing.role),
          updatedAt: clock.now(),
          // A second factor set up by whoever pre-registered the address would lock its owner out.
          totpSecret: null,
          totpEnabledAt: null,
          totpLastStep: null,
          totpPendingSecret: null,
          totpPendingAt: null,
        },
      });
      await tx.recoveryCode.deleteMany({ where: { userId: user.id } });
      // So would a passkey: it signs in on its own, without the password or the mailbox.
      const passkeys = await tx.passkey.deleteMany({ where: { userId: user.id } });
      const keep = proof?.keepIdentity;
      const links = await tx.oAuthAccount.findMany({
        where: { userId: user.id, ...(keep && { NOT: { provider: keep.provider, subject: keep.subject } }) },
        select: { id: true, provider: true },
      });
      if (links.length) await tx.oAuthAccount.deleteMany({ where: { id: { in: links.map((l) => l.id) } } });
      // Used or not: a completeOAuth that spent its code just before this claim re-reads it under
      // the share lock and finds it gone, so no session opens from a dropped identity.
      await tx.oneTimeToken.deleteMany({ where: { userId: user.id, purpose: 'OAUTH_CODE' } });
      const revoked = await sessions.revokeInTransaction(scope, user.id, 'PASSWORD_RESET');
      const dropped = {
        password: current.hadPassword,
        sessions: revoked.length,
        oauthLinks: links.map((l) => l.provider).sort(),
        ...(current.hadSecondFactor && { secondFactor: true }),
        ...(passkeys.count > 0 && { passkeys: passkeys.count }),
      };
      await audit.record(
        { type: 'email.verified', userId: user.id, client, data: { takeover: true, reason: 'proof_of_mailbox', proof: proof?.via ?? null, dropped } },
        scope,
      );
      return { user, revoked };
    },

    async updateProfile(userId: string, input: { name?: string | null }): Promise<User> {
      const data: { name?: string | null; updatedAt: Date } = { updatedAt: clock.now() };
      if (input.name !== undefined) data.name = normalizeName(input.name);
      await sessions.userChanged(db, userId);
      return db.user.update({ where: { id: userId }, data });
    },
  };
}

export type UsersService = ReturnType<typeof createUsersService>;
