import { AppError } from '../../errors.ts';

/** LOCKED with the seconds left, or null when the account is not locked at `now`. */
export function lockedError(user: { lockedUntil: Date | null }, now: Date): AppError | null {
  if (!user.lockedUntil || user.lockedUntil <= now) return null;
  return new AppError('LOCKED', 'This account is locked', {
    retryAfter: (user.lockedUntil.getTime() - now.getTime()) / 1000,
  });
}
