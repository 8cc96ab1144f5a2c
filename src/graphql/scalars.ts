import { rateLimitKeys } from '../kernel/rate-limit-rules.ts';
import { GraphQLError, Kind } from 'graphql';
import { builder } from './builder.ts';

builder.scalarType('DateTime', {
  description: 'An instant in time, as an ISO 8601 string in UTC',
  serialize: (value) => (value as Date).toISOString(),
  parseValue: (value) => parseDate(value),
  parseLiteral: (ast) => {
    if (ast.kind !== Kind.STRING) throw new GraphQLError('DateTime must be an ISO 8601 string');
    return parseDate(ast.value);
  },
});

function parseDate(value: unknown): Date {
  const date = typeof value === 'string' ? new Date(value) : new Date(Number.NaN);
  if (Number.isNaN(date.getTime())) throw new GraphQLError('DateTime must be an ISO 8601 string');
  return date;
}

export const Role = builder.enumType('Role', { values: ['USER', 'ADMIN'] as const });
export const AuthMethod = builder.enumType('AuthMethod', {
  values: ['PASSWORD', 'MAGIC_LINK', 'EMAIL_CODE', 'OAUTH', 'PASSKEY'] as const,
});
export const RevocationReason = builder.enumType('RevocationReason', {
  values: [
    'LOGOUT',
    'REVOKED_BY_USER',
    'REVOKED_BY_ADMIN',
    'PASSWORD_CHANGED',
    'PASSWORD_RESET',
    'USER_LOCKED',
    'USER_DELETED',
    'SECOND_FACTOR_FAILED',
    'SECOND_FACTOR_CHANGED',
  ] as const,
});
export const SecondFactor = builder.enumType('SecondFactor', { values: ['TOTP', 'RECOVERY_CODE', 'PASSKEY'] as const });

builder.enumType('RateLimitKey', {
  description: 'What a rate limit counts per: the client IP, the email in the input, or the signed-in user',
  values: rateLimitKeys,
});
