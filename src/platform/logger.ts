import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

// Secrets must never reach a log line, whatever a caller passes in: these keys are censored
// wherever they appear in a logged object, one or two levels deep.
const secretKeys = [
  'password',
  'currentPassword',
  'newPassword',
  'passwordHash',
  'token',
  'emailCode',
  'authorization',
  'cookie',
  'set-cookie',
  'secret',
  'clientSecret',
  'variables',
];
const redactPaths = secretKeys.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]).map((p) => p.replace(/(^|\.)([a-z-]*-[a-z-]*)$/i, '$1["$2"]'));

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'portcullis' },
      redact: { paths: redactPaths, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}

/** "alice@example.com" -> "a***@example.com": enough to follow a case, not enough to harvest. */
export function maskEmail(email: string): string {
  const at = email.indexOf('@');
  if (at < 1) return '***';
  return `${email[0]}***${email.slice(at)}`;
}
