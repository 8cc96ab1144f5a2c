import { badInput, forbidden } from '../../kernel/errors.ts';

/** What the admin API refuses (besides FORBIDDEN to non-admins, declared on each field). */
export const adminErrors = {
  noUserWithEmail: () => badInput('No user with this email'),
  eitherIdOrEmail: () => badInput('Give either id or email'),
  queryTooLong: (max: number) => badInput(`query must be at most ${max} characters`),
  untilInThePast: () => badInput('until must be in the future'),
  untilTooFar: () => badInput('until is too far away; leave it out to lock until unlocked'),
  reasonTooLong: (max: number) => badInput(`reason must be at most ${max} characters`),
  notOnOwnAccount: (verb: string) => forbidden(`An admin cannot ${verb} their own account`),
  noLongerAdmin: () => forbidden('Not allowed: you are no longer an admin'),
  lastAdmin: (done: string) => forbidden(`The last active admin cannot be ${done}: make another admin first`),
} as const;
