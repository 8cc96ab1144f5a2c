import pg from 'pg';
import { Redis } from 'ioredis';

// A start that cannot succeed ends with ONE line that names the setting to change, and exit 1:
// no stack. Failures that may pass on their own (a database or Redis still coming up) are retried
// for a bounded time first; those that will not (bad password, missing database) are not.

/** A start-up failure whose message is the whole answer: the entry prints it alone. */
export class StartupError extends Error {}

const TRANSIENT = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', '57P03']);
const RETRY_EVERY_MS = 500;

/** Where a URL points, without its credentials. */
function target(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || (u.protocol.startsWith('redis') ? 6379 : 5432)}${u.pathname.length > 1 ? u.pathname : ''}`;
  } catch {
    return '(unparsable URL)';
  }
}

/** Connects once to DATABASE_URL, retrying while it is unreachable (for at most `retryMs`). */
export async function waitForDatabase(url: string, { retryMs, onRetry }: { retryMs: number; onRetry?: (reason: string) => void }): Promise<void> {
  let parsed: URL;
  try {
    parsed = new URL(url);
    if (!parsed.hostname) throw new Error('no host');
  } catch {
    throw new StartupError('DATABASE_URL is malformed: expected postgresql://user:password@host:5432/database');
  }
  const deadline = Date.now() + retryMs;
  let announced = false;
  for (;;) {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
    client.on('error', () => {});
    try {
      await client.connect();
      return;
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      const message = (err as Error).message ?? '';
      const database = decodeURIComponent(parsed.pathname.slice(1)) || parsed.username;
      if (code === '3D000') {
        throw new StartupError(
          `DATABASE_URL names the database "${database}", which does not exist on ${parsed.hostname}:${parsed.port || 5432}: create it (createdb ${database}, or CREATE DATABASE "${database}"), or fix DATABASE_URL`,
        );
      }
      if (code === '28P01' || code === '28000') {
        throw new StartupError(
          `DATABASE_URL: the database refused the credentials of user "${decodeURIComponent(parsed.username)}": fix the user or password in DATABASE_URL`,
        );
      }
      const transient = TRANSIENT.has(code) || /timeout|terminated|starting up/i.test(message);
      if (!transient || Date.now() > deadline) {
        const why =
          code === 'ENOTFOUND' ? 'the host name does not resolve' : transient ? `no answer within ${Math.round(retryMs / 1000)} s` : firstLine(message);
        throw new StartupError(`DATABASE_URL: cannot reach the database at ${target(url)} (${why}): start PostgreSQL or fix DATABASE_URL`);
      }
      if (!announced) onRetry?.(code || 'unreachable');
      announced = true;
      await new Promise((r) => setTimeout(r, RETRY_EVERY_MS));
    } finally {
      await client.end().catch(() => {});
    }
  }
}

/** Pings REDIS_URL, retrying while it is unreachable (for at most `retryMs`). */
export async function waitForRedis(url: string, { retryMs, onRetry }: { retryMs: number; onRetry?: (reason: string) => void }): Promise<void> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, connectTimeout: 2000, retryStrategy: () => null });
  client.on('error', () => {});
  const deadline = Date.now() + retryMs;
  let announced = false;
  try {
    for (;;) {
      try {
        if (client.status !== 'ready') await client.connect();
        await client.ping();
        return;
      } catch (err) {
        const message = (err as Error).message ?? '';
        if (/NOAUTH|WRONGPASS|invalid password|invalid username/i.test(message)) {
          throw new StartupError(`REDIS_URL: Redis at ${target(url)} refused the credentials: fix the user or password in REDIS_URL`);
        }
        if (Date.now() > deadline) {
          throw new StartupError(
            `REDIS_URL: cannot reach Redis at ${target(url)} (no answer within ${Math.round(retryMs / 1000)} s): start Redis, fix REDIS_URL, or unset it to keep rate limits and events in process`,
          );
        }
        if (!announced) onRetry?.('unreachable');
        announced = true;
        client.disconnect();
        await new Promise((r) => setTimeout(r, RETRY_EVERY_MS));
      }
    }
  } finally {
    client.disconnect();
  }
}

/** The HTTP listener could not open its port. */
export function listenFailure(err: unknown, port: number, host: string): Error {
  const code = (err as { code?: string }).code;
  if (code === 'EADDRINUSE') return new StartupError(`PORT ${port} is already in use on ${host}: stop what uses it, or set PORT to a free port`);
  if (code === 'EACCES') return new StartupError(`PORT ${port} needs privileges on ${host}: set PORT to 1024 or above`);
  if (code === 'EADDRNOTAVAIL') return new StartupError(`HOST ${host} is not an address of this machine: fix HOST (0.0.0.0 listens on all)`);
  return err as Error;
}

export function firstLine(message: string): string {
  return message.split('\n')[0]!.slice(0, 300);
}
