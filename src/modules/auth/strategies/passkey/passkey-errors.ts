import { AppError, badInput } from '../../../../kernel/errors.ts';

/** What the passkey strategy refuses. */
export const passkeyErrors = {
  challengeInvalid: () => new AppError('TOKEN_INVALID', 'This passkey challenge or response is invalid, or the challenge was already used'),
  challengeExpired: () => new AppError('TOKEN_EXPIRED', 'This passkey challenge has expired; start again'),
  tooMany: (max: number) => new AppError('CONFLICT', `An account holds at most ${max} passkeys; delete one first`),
  nameTooLong: (max: number) => badInput(`name must be at most ${max} characters`),
  alreadyRegistered: () => new AppError('CONFLICT', 'This passkey is already registered'),
  responseTooLong: () => badInput('response is too long'),
  notACredential: () => badInput('response must be the JSON of a PublicKeyCredential'),
} as const;
