import type { AppError } from '../../kernel/errors.ts';
import { userErrors } from './user-errors.ts';

/**
 * `lockedUntil` of an admin lock without an end: a date no clock reaches, so every check of
 * `lockedUntil > now` (each sign-in path) refuses the account until an admin unlocks it.
 */
export const LOCKED_UNTIL_UNLOCKED = new Date('9999-12-31T00:00:00.000Z');

/** LOCKED with the seconds left (none for a lock without an end), or null when not locked at `now`. */
export function lockedError(user: { lockedUntil: Date | null }, now: Date): AppError | null {
  if (!user.lockedUntil || user.lockedUntil <= now) return null;
  if (user.lockedUntil >= LOCKED_UNTIL_UNLOCKED) return userErrors.lockedUntilUnlocked();
  return userErrors.lockedFor((user.lockedUntil.getTime() - now.getTime()) / 1000);
}
