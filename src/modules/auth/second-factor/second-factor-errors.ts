import { AppError, badInput, forbidden, unauthenticated } from '../../../kernel/errors.ts';

/** What the second-factor module refuses. */
export const secondFactorErrors = {
  /** A TOTP or recovery code that does not count: wrong, used, or its time step already taken. */
  wrongCode: () => new AppError('TOKEN_INVALID', 'The code is wrong or was already used'),
  noSecondFactor: () => new AppError('CONFLICT', 'The account has no second factor'),
  alreadyOnDisableFirst: () => new AppError('CONFLICT', 'TOTP is already on: disable it first'),
  alreadyOn: () => new AppError('CONFLICT', 'TOTP is already on'),
  passwordRequired: () => badInput('The password is required'),
  passwordWrong: () => badInput('The password is wrong'),
  enrolmentNotStarted: () => badInput('Start the enrolment first (startTotpEnrollment)'),
  enrolmentChanged: () => new AppError('CONFLICT', 'The enrolment changed meanwhile: start again'),
  nothingOwed: () => forbidden('This session owes no second factor'),
  oneProof: () => badInput('Give exactly one of code and recoveryCode'),
  /** The pending session was revoked while its proof was checked: the proof is not spent. */
  sessionEnded: () => unauthenticated(),
} as const;
