import type { Config } from '../../src/config/env.ts';
import { hashToken } from '../../src/platform/crypto.ts';
import type { TestDatabase } from './database.ts';

// Reading the per-address throttle of failed proofs (table "Throttle", keyed by scope and the
// SHA-256 of the normalized email), as the tests of sign-ins, admin views and email codes need it.

export interface ThrottleRow {
  failures: number;
  windowStartedAt: Date;
  blockedUntil: Date | null;
}

/** The throttle row of `email` under `scope` ("password", "email-code:hour", "email-code:day"). */
export async function throttleRow(db: TestDatabase, email: string, scope = 'password'): Promise<ThrottleRow | undefined> {
  const [row] = await db.query<ThrottleRow>(
    `SELECT failures, ("windowStartedAt" AT TIME ZONE 'UTC') AS "windowStartedAt", ("blockedUntil" AT TIME ZONE 'UTC') AS "blockedUntil"
       FROM "Throttle" WHERE scope = $1 AND subject = $2`,
    [scope, hashToken(email)],
  );
  return row;
}

/** Failures counted now against `email` under `scope` (0 without a row). */
export const failuresOf = async (db: TestDatabase, email: string, scope = 'password'): Promise<number> => (await throttleRow(db, email, scope))?.failures ?? 0;

/**
 * A password throttle that lets a million failures through: for tests of the rate limits, which
 * must see only what the limits refuse (the throttle is tested on its own, with its defaults).
 */
export const relaxedThrottle = (config: Config): Config => ({
  ...config,
  throttle: { ...config.throttle, password: { windowMs: config.throttle.password.windowMs, backoff: { freeFailures: 1_000_000, baseMs: 1, maxMs: 1 } } },
});
