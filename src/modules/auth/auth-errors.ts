import { unauthenticated } from '../../kernel/errors.ts';

/** What the sign-in flow itself refuses; each strategy has its own catalogue. */
export const authErrors = {
  /** Deleted between the proof and the session. */
  accountGone: () => unauthenticated('The account no longer exists'),
} as const;
