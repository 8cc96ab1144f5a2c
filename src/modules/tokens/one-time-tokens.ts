import { sharedErrors } from '../../kernel/errors.ts';
import type { TokenPurpose } from '../../generated/prisma/client.ts';
import type { Clock } from '../../platform/clock.ts';
import { hashToken, newToken } from '../../platform/crypto.ts';
import type { Db, Tx } from '../../platform/db.ts';

// One-time secrets (magic links, reset and verification tokens, OAuth completion codes): 32 random
// bytes handed out once, only their SHA-256 stored, bound to one email, consumed atomically so
// that two concurrent uses can never both succeed.

export interface ConsumedToken {
  id: string;
  email: string;
  userId: string | null;
  /** What the secret is bound to besides its email (an oauth_code: the frontend's codeChallenge). */
  bindingHash: string | null;
}

export function createOneTimeTokens({ db, clock }: { db: Db; clock: Clock }) {
  return {
    /** Issues a token; the raw value is returned once and never stored. */
    async issue(
      input: { purpose: TokenPurpose; email: string; userId?: string | null; ttlMs: number; bindingHash?: string | null },
      tx: Tx | Db = db,
    ): Promise<string> {
      const token = newToken();
      const now = clock.now();
      await tx.oneTimeToken.create({
        data: {
          purpose: input.purpose,
          email: input.email,
          userId: input.userId ?? null,
          tokenHash: hashToken(token),
          bindingHash: input.bindingHash ?? null,
          expiresAt: new Date(now.getTime() + input.ttlMs),
          createdAt: now,
        },
      });
      return token;
    },

    /**
     * Consumes a token of `purpose` (and of `email`, when given) inside `tx`: exactly one caller
     * wins; the others get TOKEN_INVALID. An expired token gives TOKEN_EXPIRED and stays unused.
     * Given the client itself rather than a transaction, the use commits at once, whatever follows.
     */
    async consume(tx: Tx | Db, purpose: TokenPurpose, token: string, email?: string): Promise<ConsumedToken> {
      if (!token || token.length > 128) throw sharedErrors.tokenInvalid();
      const now = clock.now();
      const tokenHash = hashToken(token);
      const [claimed] = await tx.oneTimeToken.updateManyAndReturn({
        where: { tokenHash, purpose, consumedAt: null, expiresAt: { gt: now }, ...(email !== undefined && { email }) },
        data: { consumedAt: now },
        select: { id: true, email: true, userId: true, bindingHash: true },
      });
      if (claimed) return claimed;
      const found = await tx.oneTimeToken.findFirst({
        where: { tokenHash, purpose, consumedAt: null, ...(email !== undefined && { email }) },
        select: { expiresAt: true },
      });
      throw found && found.expiresAt <= now ? sharedErrors.tokenExpired() : sharedErrors.tokenInvalid();
    },

    /** Voids every unused token of `purpose` for `email` (a new request replaces the old one). */
    async voidAll(purpose: TokenPurpose, email: string, tx: Tx | Db = db): Promise<void> {
      await tx.oneTimeToken.updateMany({ where: { purpose, email, consumedAt: null }, data: { consumedAt: clock.now() } });
    },

    /**
     * Voids every mailed secret that signs in or sets a password (reset links, magic links, email
     * codes) for `email`: a password change, a reset or "sign out everywhere" must not leave a link
     * mailed before it working.
     */
    async voidMailedSecrets(tx: Tx | Db, email: string): Promise<void> {
      await tx.oneTimeToken.updateMany({
        where: { email, purpose: { in: ['PASSWORD_RESET', 'MAGIC_LINK', 'EMAIL_CODE'] }, consumedAt: null },
        data: { consumedAt: clock.now() },
      });
    },
  };
}

export type OneTimeTokens = ReturnType<typeof createOneTimeTokens>;
