import { AppError, forbidden, unauthenticated } from '../../kernel/errors.ts';

/** What the transports refuse: credentials, WebSocket and event-stream limits. */
export const transportErrors = {
  mustSignIn: () => unauthenticated('You must be signed in'),
  deadBearerToken: () => unauthenticated('The session token is invalid, revoked or expired'),
  csrfHeaderMissing: (header: string) => forbidden(`Requests authenticated by cookie must send the ${header} header`),
  operationsPerSocket: (max: number) => new AppError('RATE_LIMITED', `At most ${max} operations may be open on one connection`, { retryAfter: 1 }),
  distinctStreamsPerAddress: (max: number) => new AppError('RATE_LIMITED', `At most ${max} event streams may be open from one address`, { retryAfter: 1 }),
  streamsPerAddress: (retryAfter: number) => new AppError('RATE_LIMITED', 'Too many event streams from this address', { retryAfter }),
  streamsReserved: (retryAfter: number) => new AppError('RATE_LIMITED', 'Too many event streams reserved', { retryAfter }),
  streamTokenInvalid: () => new AppError('BAD_USER_INPUT', 'Invalid event stream token'),
  streamNotFound: () => new AppError('NOT_FOUND', 'Event stream not found or expired'),
  operationIdInvalid: () => new AppError('BAD_USER_INPUT', 'Invalid operation id'),
  operationIdTooLong: (max: number) => new AppError('BAD_USER_INPUT', `An operation id must be at most ${max} characters`),
  operationsPerStream: (max: number) => new AppError('RATE_LIMITED', `At most ${max} operations may be open on one event stream`, { retryAfter: 1 }),
  streamSpent: () => new AppError('RATE_LIMITED', 'This event stream has run all the operations it may; open a new stream', { retryAfter: 1 }),
} as const;
