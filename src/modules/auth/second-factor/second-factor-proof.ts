import type { SecondFactor } from '../../../generated/prisma/client.ts';
import type { Tx } from '../../../platform/db.ts';
import type { Encryptor } from '../../../platform/encryption.ts';
import { hashRecoveryCode, normalizeRecoveryCode } from './recovery-codes.ts';
import { matchTotp } from './totp.ts';

// Spending a second-factor proof inside the caller's transaction. Each check is one conditional
// UPDATE, so of two requests (on two instances) giving the same code, exactly one wins: a TOTP
// time step is accepted only when it is later than the last one accepted for the user (and the
// secret is still the one the code was checked against), and a recovery code only while it is unused.

/** A proof as given: `code` arguments take a TOTP code (six digits) or a recovery code. */
export type Proof = { factor: 'TOTP'; code: string } | { factor: 'RECOVERY_CODE'; code: string };

export const proofOf = (code: string): Proof => (/^\s*\d{6}\s*$/.test(code) ? { factor: 'TOTP', code: code.trim() } : { factor: 'RECOVERY_CODE', code });

/** Where a TOTP secret is sealed: a sealed secret copied to another user does not open. */
export const totpContext = (userId: string) => `totp:${userId}`;

export interface ProofOwner {
  id: string;
  /** The sealed active secret; null when TOTP is off. */
  totpSecret: string | null;
}

/** Spends `proof` for `user`: the factor it proved, or null when it is wrong, used or replayed. */
export async function spendProof(tx: Tx, encryptor: Encryptor, user: ProofOwner, proof: Proof, now: Date): Promise<SecondFactor | null> {
  if (proof.factor === 'TOTP') {
    if (!user.totpSecret) return null;
    const secret = encryptor.open(user.totpSecret, totpContext(user.id));
    const step = matchTotp(secret, proof.code, now);
    if (step === null) return null;
    // Sealed with a key being rotated out: sealed again with the current one while we hold it.
    const sealed = encryptor.isStale(user.totpSecret) ? encryptor.seal(secret, totpContext(user.id)) : user.totpSecret;
    const accepted = await tx.$executeRaw`
      UPDATE "User" SET "totpLastStep" = ${BigInt(step)}, "totpSecret" = ${sealed}
       WHERE id = ${user.id}::uuid AND "totpSecret" = ${user.totpSecret}
         AND ("totpLastStep" IS NULL OR "totpLastStep" < ${BigInt(step)})`;
    return accepted === 1 ? 'TOTP' : null;
  }
  const normalized = normalizeRecoveryCode(proof.code);
  if (!normalized) return null;
  const used = await tx.recoveryCode.updateMany({
    where: { userId: user.id, codeHash: hashRecoveryCode(normalized), usedAt: null },
    data: { usedAt: now },
  });
  return used.count === 1 ? 'RECOVERY_CODE' : null;
}
