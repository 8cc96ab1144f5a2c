// The error model of API.md, free of GraphQL: services throw AppError, the GraphQL layer maps the
// code to `extensions.code` and `extensions.http.status`.

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
} as const;

export type ErrorCode = keyof typeof errorStatus;

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
export const unauthenticated = (message = 'Not signed in, or the session has ended') =>
  new AppError('UNAUTHENTICATED', message);
export const forbidden = (message = 'Not allowed') => new AppError('FORBIDDEN', message);
export const secondFactorRequired = () =>
  new AppError('SECOND_FACTOR_REQUIRED', 'This session must give its second factor first (completeSecondFactor)');
