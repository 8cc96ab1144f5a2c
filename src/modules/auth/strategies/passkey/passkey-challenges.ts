import type { PasskeyChallengePurpose } from '../../../../generated/prisma/client.ts';
import { passkeyErrors } from './passkey-errors.ts';
import { isUuid } from '../../../../kernel/pagination.ts';
import type { Clock } from '../../../../platform/clock.ts';
import type { Db, Tx } from '../../../../platform/db.ts';

// The challenge of a WebAuthn ceremony, kept by the service between its start and its finish:
// handed out with an id, valid for a few minutes, spent by one DELETE … RETURNING, so of two
// requests presenting the same challenge (on two instances) exactly one finds it.

export interface StoredChallenge {
  challenge: string;
  /** The registering user; at sign-in, the account the email named (null: any discoverable passkey). */
  userId: string | null;
}

interface Deps {
  db: Db;
  clock: Clock;
  ttlMs: number;
}

export function createPasskeyChallenges({ db, clock, ttlMs }: Deps) {
  const check = (row: { challenge: string; userId: string | null; expiresAt: Date } | undefined | null): StoredChallenge => {
    if (!row) throw passkeyErrors.challengeInvalid();
    if (row.expiresAt <= clock.now()) throw passkeyErrors.challengeExpired();
    return { challenge: row.challenge, userId: row.userId };
  };

  return {
    ttlMs,

    /** Keeps `challenge` for one ceremony; returns the id the finish presents. */
    async store(purpose: PasskeyChallengePurpose, challenge: string, userId: string | null): Promise<string> {
      const now = clock.now();
      const row = await db.passkeyChallenge.create({
        data: { purpose, challenge, userId, createdAt: now, expiresAt: new Date(now.getTime() + ttlMs) },
        select: { id: true },
      });
      return row.id;
    },

    /** The live challenge behind `id`, without spending it (it is spent by `consume`). */
    async peek(purpose: PasskeyChallengePurpose, id: string): Promise<StoredChallenge> {
      if (!isUuid(id)) throw passkeyErrors.challengeInvalid();
      return check(await db.passkeyChallenge.findFirst({ where: { id, purpose } }));
    },

    /**
     * Spends the challenge inside the caller's transaction: TOKEN_INVALID when it is unknown or
     * already spent, TOKEN_EXPIRED past its lifetime (a rollback of the caller leaves it as it was).
     */
    async consume(tx: Tx, purpose: PasskeyChallengePurpose, id: string): Promise<StoredChallenge> {
      if (!isUuid(id)) throw passkeyErrors.challengeInvalid();
      const [row] = await tx.$queryRaw<Array<{ challenge: string; userId: string | null; expiresAt: Date }>>`
        DELETE FROM "PasskeyChallenge" WHERE id = ${id}::uuid AND purpose = ${purpose}::"PasskeyChallengePurpose"
        RETURNING challenge, "userId"::text AS "userId", "expiresAt"`;
      return check(row);
    },
  };
}
