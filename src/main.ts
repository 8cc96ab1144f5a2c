import { createApp, type App } from './app.ts';
import { loadConfig, type Config } from './config/env.ts';
import { ConfigError } from './config/config-error.ts';
import type { EmbeddedDatabase } from './platform/embedded-postgres.ts';
import { createLogger } from './platform/logger.ts';
import { applyMigrations, MigrationError } from './platform/migrate.ts';
import { firstLine, listenFailure, StartupError, waitForDatabase, waitForRedis } from './platform/startup-errors.ts';

// Entry point: config -> database (embedded or DATABASE_URL, retried while it comes up) -> Redis ->
// migrations -> app -> listen -> "ready". A start that cannot succeed prints one line naming the
// setting to change and exits 1. Ctrl-C, SIGTERM (npm forwards it: `start` execs node) or the
// death of the parent (a killed npm) drain the app, then stop the embedded PostgreSQL, last.

let config: Readonly<Config>;
try {
  config = loadConfig();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  // "Invalid configuration:\n  NAME: why" -> one line per problem, the first one on the same line.
  console.error(err.message.replace(/:\n\s+/, ': ').replace(/\n\s+/g, '; '));
  process.exit(1);
}

/** How long the shutdown may take in all: drain (5 s), jobs in hand (5 s), then the database. */
const SHUTDOWN_LIMIT_MS = 15_000;
/** How often we look whether the process that started us is still there. */
const PARENT_CHECK_MS = 1_000;

const log = createLogger(config.logLevel);
const startedAt = performance.now();
let embedded: EmbeddedDatabase | undefined;
let app: App | undefined;
let stopping = false;

async function shutdown(reason: string, exitCode = 0) {
  if (stopping) return;
  stopping = true;
  log.info({ signal: reason }, 'shutting down');
  const force = setTimeout(() => {
    log.error({ limitMs: SHUTDOWN_LIMIT_MS }, 'shutdown took too long: stopping now');
    void (embedded?.stop() ?? Promise.resolve()).finally(() => process.exit(1));
  }, SHUTDOWN_LIMIT_MS);
  force.unref();
  try {
    await app?.close();
  } catch (err) {
    log.warn({ err: { message: (err as Error).message } }, 'shutdown: closing the app failed');
  }
  try {
    await embedded?.stop();
  } finally {
    clearTimeout(force);
    process.exit(exitCode);
  }
}

for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => void shutdown(signal));
// Only under --expose-gc (bench:perf starts us so, to read the RSS after a full collection).
const collectGarbage = (globalThis as { gc?: () => void }).gc;
if (collectGarbage) process.on('SIGUSR2', () => collectGarbage());
// A parent that dies (npm killed, an IDE gone) leaves us re-parented: leave with it.
const parent = process.ppid;
if (parent > 1) setInterval(() => process.ppid !== parent && void shutdown('parent exited'), PARENT_CHECK_MS).unref();

/** A failed start: one line, what was started is stopped, exit 1. */
async function failStart(err: unknown): Promise<never> {
  const known = err instanceof StartupError || err instanceof MigrationError || err instanceof ConfigError;
  console.error(known ? (err as Error).message : `Portcullis could not start: ${firstLine(String((err as Error)?.message ?? err))}`);
  stopping = true;
  await app?.close().catch(() => {});
  await embedded?.stop().catch(() => {});
  process.exit(1);
}

try {
  const retry = {
    retryMs: config.startupRetryMs,
    onRetry: (what: string) => (reason: string) => log.warn({ reason }, `waiting for ${what} (up to ${config.startupRetryMs / 1000} s)`),
  };
  if (config.databaseUrl) {
    await waitForDatabase(config.databaseUrl, { retryMs: retry.retryMs, onRetry: retry.onRetry('the database') });
  } else {
    const { startEmbeddedPostgres } = await import('./platform/embedded-postgres.ts');
    embedded = await startEmbeddedPostgres(config.dataDir, log, config.embeddedPostgresPort);
  }
  if (stopping) await new Promise(() => {}); // a signal arrived meanwhile: shutdown() ends the process
  if (config.redisUrl) await waitForRedis(config.redisUrl, { retryMs: retry.retryMs, onRetry: retry.onRetry('Redis') });
  const databaseUrl = config.databaseUrl ?? embedded!.url;
  await applyMigrations(databaseUrl, log);
  if (stopping) await new Promise(() => {});
  app = createApp({ config, databaseUrl, log });
  const url = await app.listen().catch((err) => {
    throw listenFailure(err, config.port, config.host);
  });
  log.info(
    {
      url,
      database: embedded ? 'embedded' : 'external',
      redis: config.redisUrl ? 'external' : 'in-process',
      startupMs: Math.round(performance.now() - startedAt),
    },
    config.graphiql ? `Portcullis ready: GraphiQL at ${url}/graphql` : `Portcullis ready at ${url}/graphql`,
  );
} catch (err) {
  if (!stopping) await failStart(err);
}
