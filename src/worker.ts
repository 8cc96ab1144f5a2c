import { loadConfig, type Config } from './config/env.ts';
import { ConfigError } from './config/config-error.ts';
import { createCore, type Core } from './core.ts';
import { systemClock } from './platform/clock.ts';
import { useEmbeddedPostgres, type EmbeddedDatabase } from './platform/embedded-postgres.ts';
import { createLogger } from './platform/logger.ts';
import { applyMigrations, MigrationError } from './platform/migrate.ts';
import { firstLine, StartupError, waitForDatabase } from './platform/startup-errors.ts';

// `npm run worker`: the job workers (mail, cleanup) without the HTTP server, for operators who run
// them apart from the API instances (which then set RUN_WORKERS=false). Uses DATABASE_URL, or, like
// `npm run admin`, the embedded PostgreSQL of a running `npm start` (else one started here).
// Stops gracefully on signals.

let config: Readonly<Config>;
try {
  config = loadConfig();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(err.message.replace(/:\n\s+/, ': ').replace(/\n\s+/g, '; '));
  process.exit(1);
}

const log = createLogger(config.logLevel);
let embedded: EmbeddedDatabase | undefined;
let core: Core | undefined;
let stopping = false;

const shutdown = async (signal: string, exitCode = 0) => {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'worker shutting down');
  await core?.close().catch((err) => log.warn({ err: { message: (err as Error).message } }, 'worker: closing failed'));
  await embedded?.stop();
  process.exit(exitCode);
};
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => void shutdown(signal));

try {
  if (config.databaseUrl) await waitForDatabase(config.databaseUrl, { retryMs: config.startupRetryMs });
  else embedded = await useEmbeddedPostgres(config.dataDir, log, config.embeddedPostgresPort);
  const databaseUrl = config.databaseUrl ?? embedded!.url;
  await applyMigrations(databaseUrl, log);
  core = createCore({ config, databaseUrl, clock: systemClock, log });
  await core.startJobs(true);
  log.info({ database: embedded ? 'embedded' : 'external', mailer: core.mailerName }, 'Portcullis worker ready');
} catch (err) {
  const known = err instanceof StartupError || err instanceof MigrationError;
  console.error(known ? (err as Error).message : `Portcullis worker could not start: ${firstLine(String((err as Error)?.message ?? err))}`);
  stopping = true;
  await core?.close().catch(() => {});
  await embedded?.stop().catch(() => {});
  process.exit(1);
}
