import { badInput, unauthenticated } from '../../../../kernel/errors.ts';

/** What the password strategy refuses. */
export const passwordErrors = {
  /** One answer for an unknown email and a wrong password, so neither reveals which it was. */
  wrongCredentials: () => unauthenticated('Invalid email or password'),
  tooShort: (min: number) => badInput(`Password must be at least ${min} characters`),
  tooLong: (max: number) => badInput(`Password must be at most ${max} characters`),
  /** Absurd input, refused before it reaches the hasher. */
  absurdlyLong: () => badInput('Password is too long'),
  currentRequired: () => badInput('The current password is required'),
  currentWrong: () => badInput('The current password is wrong'),
} as const;
