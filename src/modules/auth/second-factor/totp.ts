import { generateSecret, generateSync, generateURI } from 'otplib';
import { safeEqual } from '../../../platform/crypto.ts';

// RFC 6238 as authenticator apps speak it: SHA-1, 6 digits, 30-second steps, base32 secrets of
// 20 random bytes. A code is matched against the current step and one step either side (clock
// drift), and the step it matched is returned so the caller can accept each step only once.

export const TOTP_PERIOD_SECONDS = 30;
export const TOTP_DIGITS = 6;
const SECRET_BYTES = 20;
/** Steps accepted on each side of the current one. */
const DRIFT_STEPS = 1;

/** A fresh secret, base32 (what the user types or scans). */
export const newTotpSecret = (): string => generateSecret({ length: SECRET_BYTES });

/** The `otpauth://totp/…` URI an authenticator app scans. */
export const totpUri = (input: { issuer: string; label: string; secret: string }): string =>
  generateURI({ ...input, algorithm: 'sha1', digits: TOTP_DIGITS, period: TOTP_PERIOD_SECONDS });

/** The RFC 6238 time step of an instant. */
export const timeStepAt = (at: Date): number => Math.floor(at.getTime() / 1000 / TOTP_PERIOD_SECONDS);

/** Whether `code` looks like a TOTP code at all (six digits), before any secret is opened. */
export const isTotpCodeShape = (code: string): boolean => /^\d{6}$/.test(code);

/** The code of `secret` for time step `step`. */
export const totpCodeForStep = (secret: string, step: number): string =>
  generateSync({ secret, epoch: step * TOTP_PERIOD_SECONDS, period: TOTP_PERIOD_SECONDS, digits: TOTP_DIGITS, algorithm: 'sha1' });

/**
 * The time step `code` belongs to, within one step of `now`, or null when it matches none. Every
 * candidate is computed and compared in constant time, so the answer takes as long either way.
 */
export function matchTotp(secret: string, code: string, now: Date): number | null {
  if (!isTotpCodeShape(code)) return null;
  const current = timeStepAt(now);
  let matched: number | null = null;
  for (let step = current - DRIFT_STEPS; step <= current + DRIFT_STEPS; step++) {
    if (safeEqual(totpCodeForStep(secret, step), code) && matched === null) matched = step;
  }
  return matched;
}
