import { AppError, badInput } from '../../kernel/errors.ts';

/** What the accounts module refuses. */
export const userErrors = {
  invalidEmail: () => badInput('Invalid email address'),
  nameTooLong: (max: number) => badInput(`Name must be at most ${max} characters`),
  emailTaken: () => new AppError('CONFLICT', 'An account with this email already exists'),
  /** Deleted or changed between a proof and its sign-in: the sign-in is tried once more. */
  changedDuringSignIn: () => new AppError('CONFLICT', 'The account changed during sign-in'),
  lockedUntilUnlocked: () => new AppError('LOCKED', 'This account is locked until an administrator unlocks it'),
  lockedFor: (retryAfterSeconds: number) => new AppError('LOCKED', 'This account is locked', { retryAfter: retryAfterSeconds }),
} as const;
