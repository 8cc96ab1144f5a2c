import { sharedErrors } from '../../kernel/errors.ts';
import type { Clock } from '../../platform/clock.ts';
import { hashToken } from '../../platform/crypto.ts';
import type { Db, Tx } from '../../platform/db.ts';
import { admit, type ThrottleState } from './throttle-rules.ts';
import type { ThrottlePolicy } from '../../config/policies.ts';

// Failures of throttled proofs, counted per address in PostgreSQL (shared by every instance, on
// the injected clock). Each reservation locks the address's rows, so parallel attempts are
// counted one after another and never get past a budget.

export interface ThrottleBudget {
  scope: string;
  policy: ThrottlePolicy;
}

/** Addresses are counted by hash: one nobody registered is never stored in clear. */
const subjectOf = (email: string) => hashToken(email);

export function createThrottle({ db, clock }: { db: Db; clock: Clock }) {
  return {
    /**
     * Counts one attempt for `email` as a failure under every budget, or under none when one of
     * them refuses: then RATE_LIMITED with the longest wait is thrown.
     */
    async reserve(email: string, budgets: ThrottleBudget[]): Promise<void> {
      const subject = subjectOf(email);
      const now = clock.now();
      const refusal = await db.$transaction(async (tx) => {
        // Each budget's row, created when missing, and locked in one statement: the no-op update of
        // an existing row takes its row lock and returns it as it is.
        const rows = await tx.$queryRaw<Array<ThrottleState & { scope: string }>>`
          INSERT INTO "Throttle" (scope, subject, failures, "windowStartedAt")
          SELECT scope, ${subject}, 0, ${now} FROM unnest(${budgets.map((b) => b.scope)}::text[]) AS scope
          ON CONFLICT (scope, subject) DO UPDATE SET scope = EXCLUDED.scope
          RETURNING scope, failures, "windowStartedAt", "blockedUntil"`;
        const admissions = budgets.map((budget) => ({
          budget,
          admission: admit(rows.find((r) => r.scope === budget.scope) ?? null, now, budget.policy),
        }));
        const waits = admissions.flatMap(({ admission }) => (admission.allowed ? [] : [admission.retryAfter]));
        if (waits.length) return Math.max(...waits);
        for (const { budget, admission } of admissions) {
          if (!admission.allowed) continue;
          const { failures, windowStartedAt, blockedUntil } = admission.state;
          // An upsert: a right password may have cleared the row between the insert and the lock.
          await tx.$executeRaw`
            INSERT INTO "Throttle" (scope, subject, failures, "windowStartedAt", "blockedUntil")
            VALUES (${budget.scope}, ${subject}, ${failures}, ${windowStartedAt}, ${blockedUntil})
            ON CONFLICT (scope, subject) DO UPDATE
              SET failures = EXCLUDED.failures, "windowStartedAt" = EXCLUDED."windowStartedAt", "blockedUntil" = EXCLUDED."blockedUntil"`;
        }
        return null;
      });
      if (refusal !== null) throw sharedErrors.tooManyAttempts(refusal);
    },

    /** Gives back the failure a successful attempt was counted as. */
    async release(email: string, scopes: string[]): Promise<void> {
      await db.$executeRaw`
        UPDATE "Throttle" SET failures = GREATEST(failures - 1, 0), "blockedUntil" = NULL
        WHERE subject = ${subjectOf(email)} AND scope = ANY(${scopes})`;
    },

    /** Forgets every failure of `email` under `scopes` (a proof of the mailbox, a right password). */
    async clear(email: string, scopes: string[], tx: Tx | Db = db): Promise<void> {
      await tx.throttle.deleteMany({ where: { subject: subjectOf(email), scope: { in: scopes } } });
    },

    /** Failures counted now for `email` under `scope` (shown to admins). */
    async failures(email: string, scope: string): Promise<number> {
      const row = await db.throttle.findUnique({ where: { scope_subject: { scope, subject: subjectOf(email) } } });
      return row ? row.failures : 0;
    },
  };
}

export type Throttle = ReturnType<typeof createThrottle>;

/** The throttle of password sign-ins: what a proof of the mailbox clears. */
export const PASSWORD_SCOPE = 'password';
