import { createApp } from './app.ts';
import { ConfigError, loadConfig } from './config/env.ts';
import { startEmbeddedPostgres, type EmbeddedDatabase } from './platform/embedded-postgres.ts';
import { createLogger } from './platform/logger.ts';
import { applyMigrations } from './platform/migrate.ts';

// Entry point: config -> database -> migrations -> app -> listen; graceful shutdown on signals.

let config;
try {
  config = loadConfig();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(err.message);
  process.exit(1);
}

const log = createLogger(config.logLevel);
const startedAt = performance.now();
let embedded: EmbeddedDatabase | undefined;
if (!config.databaseUrl) embedded = await startEmbeddedPostgres(config.dataDir, log, config.embeddedPostgresPort);
const databaseUrl = config.databaseUrl ?? embedded!.url;
await applyMigrations(databaseUrl, log);

const app = createApp({ config, databaseUrl, log });
const url = await app.listen();
log.info(
  { url, database: embedded ? 'embedded' : 'external', redis: config.redisUrl ? 'external' : 'in-process', startupMs: Math.round(performance.now() - startedAt) },
  config.graphiql ? `Portcullis ready: GraphiQL at ${url}/graphql` : `Portcullis ready at ${url}/graphql`,
);

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'shutting down');
  // The app drains in at most 5 s; the job queue then waits at most a few seconds for jobs in hand.
  const force = setTimeout(() => process.exit(1), 10_000).unref();
  try {
    await app.close();
    await embedded?.stop();
  } finally {
    clearTimeout(force);
    process.exit(0);
  }
}
// embedded-postgres stops its database on these signals by itself, at once, under the requests
// and jobs still using it; the shutdown above stops it last, after everything else.
process.removeAllListeners('SIGTERM');
process.removeAllListeners('SIGINT');
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
