import { ConfigError, loadConfig } from './config/env.ts';
import { createCore } from './core.ts';
import { systemClock } from './platform/clock.ts';
import { createLogger } from './platform/logger.ts';
import { applyMigrations } from './platform/migrate.ts';

// `npm run worker`: the job workers (mail, cleanup) without the HTTP server, for operators who run
// them apart from the API instances (which then set RUN_WORKERS=false). Stops gracefully on signals.

let config;
try {
  config = loadConfig();
  if (!config.databaseUrl) throw new ConfigError('Invalid configuration:\n  DATABASE_URL: the worker needs the database of the API instances');
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(err.message);
  process.exit(1);
}

const log = createLogger(config.logLevel);
await applyMigrations(config.databaseUrl!, log);
const core = createCore({ config, databaseUrl: config.databaseUrl!, clock: systemClock, log });
await core.startJobs(true);
log.info({ mailer: config.sendgridApiKey ? 'sendgrid' : 'outbox' }, 'Portcullis worker ready');

const shutdown = async (signal: string) => {
  log.info({ signal }, 'worker shutting down');
  await core.close();
  process.exit(0);
};
process.once('SIGTERM', () => void shutdown('SIGTERM'));
process.once('SIGINT', () => void shutdown('SIGINT'));
