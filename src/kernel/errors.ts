// The error model of API.md, free of GraphQL: services throw AppError, the GraphQL layer maps the
// code to `extensions.code` and `extensions.http.status`. Each module declares its refusals once,
// in its own catalogue (`<module>-errors.ts`); those several modules give are in `sharedErrors`.

export const errorStatus = {
  BAD_USER_INPUT: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  LOCKED: 423,
  SECOND_FACTOR_REQUIRED: 401,
  RATE_LIMITED: 429,
  TOKEN_INVALID: 400,
  TOKEN_EXPIRED: 498,
  INTERNAL_SERVER_ERROR: 500,
} as const;

export type ErrorCode = keyof typeof errorStatus;

/** The message of every masked error: what went wrong stays in the log, under the request id. */
export const UNEXPECTED_MESSAGE = 'Unexpected error.';

export interface ErrorExtensions {
  code: string;
  requestId?: string;
  http?: { status: number; headers?: Record<string, string> };
  retryAfter?: number;
}

/**
 * THE extensions of every error answer (API.md "Errors"), on every transport: GraphQL errors carry
 * them, and so do the answers given before GraphQL runs (`toErrorBody`).
 */
export function errorExtensions(
  code: ErrorCode,
  { requestId, status = errorStatus[code], retryAfter }: { requestId?: string; status?: number; retryAfter?: number } = {},
): ErrorExtensions {
  const headers = retryAfter !== undefined ? { 'Retry-After': String(retryAfter) } : undefined;
  return {
    code,
    http: { status, ...(headers && { headers }) },
    ...(retryAfter !== undefined && { retryAfter }),
    ...(requestId !== undefined && { requestId }),
  };
}

/** The whole body of an error answered outside GraphQL's execution (a refused body, a failed request). */
export function toErrorBody(code: ErrorCode, message: string, options: Parameters<typeof errorExtensions>[1] = {}) {
  return { errors: [{ message, extensions: errorExtensions(code, options) }] };
}

export class AppError extends Error {
  readonly code: ErrorCode;
  /** Seconds until a retry may succeed (LOCKED, RATE_LIMITED). */
  readonly retryAfter?: number;

  constructor(code: ErrorCode, message: string, options: { retryAfter?: number } = {}) {
    super(message);
    this.name = 'AppError';
    this.code = code;
    if (options.retryAfter !== undefined) this.retryAfter = Math.max(1, Math.ceil(options.retryAfter));
  }
}

export const badInput = (message: string) => new AppError('BAD_USER_INPUT', message);
export const unauthenticated = (message = 'Not signed in, or the session has ended') => new AppError('UNAUTHENTICATED', message);
export const forbidden = (message = 'Not allowed') => new AppError('FORBIDDEN', message);
export const secondFactorRequired = () => new AppError('SECOND_FACTOR_REQUIRED', 'This session must give its second factor first (completeSecondFactor)');

/** Refusals several modules give, worded once. */
export const sharedErrors = {
  noSuchUser: () => badInput('No user with this id'),
  /** A mailed link or code, or an OAuth completion code, that does not count (unknown, used, wrong address). */
  tokenInvalid: () => new AppError('TOKEN_INVALID', 'This link or code is invalid or was already used'),
  tokenExpired: () => new AppError('TOKEN_EXPIRED', 'This link or code has expired'),
  /** A rate limit or a throttle: the same answer, whichever refused. */
  tooManyAttempts: (retryAfter: number) => new AppError('RATE_LIMITED', 'Too many attempts; try again later', { retryAfter }),
  pageSizeOutOfRange: (max: number) => badInput(`first must be between 0 and ${max}`),
  invalidCursor: () => badInput('Invalid cursor'),
} as const;
