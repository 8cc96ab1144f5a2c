import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { applyMigrations } from '../src/platform/migrate.ts';
import { freePort } from './free-port.ts';
import { startHaproxy, type Haproxy } from './cluster-haproxy.ts';

// `npm run cluster`: N API instances (RUN_WORKERS=false) and one worker process on the local
// PostgreSQL and Redis, behind HAProxy, all on 127.0.0.1; Ctrl-C (or SIGTERM) stops every one of
// them. Tests and bench:scale start it with startCluster() and stop it themselves.

const root = new URL('..', import.meta.url).pathname;
const adminUrl = process.env.CLUSTER_ADMIN_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const STOP_TIMEOUT_MS = 20_000;

export interface ClusterOptions {
  instances?: number;
  /** HAProxy's port; 0 or unset: a free one. */
  port?: number;
  /** Unset: the database `portcullis_cluster` on the local PostgreSQL, created when missing. */
  databaseUrl?: string;
  redisUrl?: string;
  redisPrefix?: string;
  /** Extra environment for every instance and the worker (e.g. RATE_LIMITS). */
  env?: Record<string, string>;
  /** Print each process's output, prefixed with its name (the command line does). */
  echo?: boolean;
}

export interface ClusterProcess {
  name: string;
  /** The instance's own address (bypassing HAProxy); empty for the worker. */
  url: string;
  port: number;
  pid(): number | undefined;
  running(): boolean;
  output(): string;
  /** Starts the process (again) and resolves when it is ready. */
  start(): Promise<void>;
  /** Sends the signal and resolves with the exit code (or the signal that ended it) once the process is gone. */
  stop(signal?: NodeJS.Signals): Promise<number | string | null>;
}

export interface Cluster {
  /** HAProxy's address: the one clients use. */
  url: string;
  databaseUrl: string;
  instances: ClusterProcess[];
  worker: ClusterProcess;
  haproxy: Haproxy;
  /** Stops HAProxy sending new requests to instance `index` and waits until it has none in flight. */
  drain(index: number): Promise<void>;
  /** Puts instance `index` back in rotation and waits until HAProxy sees it UP. */
  enable(index: number): Promise<void>;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function defaultDatabase(): Promise<string> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query("SELECT 1 FROM pg_database WHERE datname = 'portcullis_cluster'");
    if (!rowCount) await client.query('CREATE DATABASE portcullis_cluster');
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = '/portcullis_cluster';
  return url.toString();
}

function clusterProcess(name: string, entry: string, port: number, env: Record<string, string>, echo: boolean): ClusterProcess {
  const url = port ? `http://127.0.0.1:${port}` : '';
  let child: ChildProcess | undefined;
  let exited: Promise<number | string | null> = Promise.resolve(null);
  let text = '';
  const alive = () => child !== undefined && child.exitCode === null && child.signalCode === null;
  const collect = (d: Buffer) => {
    text = (text + d).slice(-200_000);
    if (echo) for (const line of String(d).split('\n').filter(Boolean)) console.log(`[${name}] ${line}`);
  };
  const self: ClusterProcess = {
    name,
    url,
    port,
    pid: () => child?.pid,
    running: alive,
    output: () => text,
    async start() {
      if (alive()) throw new Error(`${name} is already running`);
      // Node itself, not npm: signals reach the service directly.
      const c = spawn(process.execPath, [entry], { cwd: root, env: { ...env, ...(port && { PORT: String(port) }) }, stdio: ['ignore', 'pipe', 'pipe'] });
      child = c;
      exited = new Promise((resolve) => c.once('exit', (code, signal) => resolve(code ?? signal)));
      c.stdout!.on('data', collect);
      c.stderr!.on('data', collect);
      for (let i = 0; ; i++) {
        if (!alive()) throw new Error(`${name} exited while starting:\n${text}`);
        if (port ? (await fetch(`${url}/ready`).catch(() => null))?.status === 200 : /worker ready/.test(text)) return;
        if (i > 1200) throw new Error(`${name} did not become ready:\n${text}`);
        await sleep(50);
      }
    },
    async stop(signal = 'SIGTERM') {
      if (!alive()) return exited;
      const c = child!;
      c.kill(signal);
      const force = setTimeout(() => c.kill('SIGKILL'), STOP_TIMEOUT_MS);
      const code = await exited;
      clearTimeout(force);
      return code;
    },
  };
  return self;
}

export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const count = options.instances ?? 3;
  const databaseUrl = options.databaseUrl ?? (await defaultDatabase());
  // Migrations first, once, as the chart's pre-install hook does: instances never race them.
  await applyMigrations(databaseUrl);
  const port = options.port || (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    DATABASE_URL: databaseUrl,
    REDIS_URL: options.redisUrl ?? 'redis://127.0.0.1:6379',
    REDIS_PREFIX: options.redisPrefix ?? 'portcullis-cluster:',
    PUBLIC_URL: url,
    FRONTEND_URL: url,
    // The instances see HAProxy's address; the client's comes in X-Forwarded-For.
    TRUST_PROXY: '127.0.0.1',
    RUN_WORKERS: 'false',
    ...options.env,
  };
  const echo = options.echo ?? false;
  const instances: ClusterProcess[] = [];
  for (let i = 1; i <= count; i++) instances.push(clusterProcess(`app${i}`, 'src/main.ts', await freePort(), env, echo));
  // The worker has no port to probe: its "worker ready" line (level info) says it is up.
  const worker = clusterProcess('worker', 'src/worker.ts', 0, { ...env, RUN_WORKERS: 'true', LOG_LEVEL: 'info' }, echo);
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-cluster-'));
  const everything = () => [...instances, worker];
  // Whatever happens to this process, its children do not outlive it.
  const killAll = () => everything().forEach((p) => p.running() && process.kill(p.pid()!, 'SIGKILL'));
  process.once('exit', killAll);

  let haproxy: Haproxy | undefined;
  try {
    await Promise.all([...instances.map((p) => p.start()), worker.start()]);
    haproxy = await startHaproxy({ port, dir, servers: instances.map((p) => ({ name: p.name, port: p.port })) });
  } catch (err) {
    killAll();
    await haproxy?.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const proxy = haproxy;
  const waitForStatus = async (name: string, wanted: (status: string, current: number) => boolean) => {
    for (let i = 0; i < 600; i++) {
      const s = (await proxy.servers()).get(name);
      if (s && wanted(s.status, s.current)) return;
      await sleep(50);
    }
    throw new Error(`HAProxy never saw ${name} reach the expected state`);
  };
  await Promise.all(instances.map((p) => waitForStatus(p.name, (s) => s.startsWith('UP'))));

  return {
    url,
    databaseUrl,
    instances,
    worker,
    haproxy: proxy,
    async drain(index) {
      const name = instances[index]!.name;
      // DRAIN, not MAINT: entering maintenance counts as "marked down" and would cut the requests
      // in flight (on-marked-down shutdown-sessions); draining lets them finish.
      await proxy.command(`set server portcullis/${name} state drain`);
      await waitForStatus(name, (s, current) => s.startsWith('DRAIN') && current === 0);
    },
    async enable(index) {
      const name = instances[index]!.name;
      await proxy.command(`set server portcullis/${name} state ready`);
      await waitForStatus(name, (s) => s.startsWith('UP'));
    },
    async stop() {
      await proxy.stop();
      await Promise.all(everything().map((p) => p.stop('SIGTERM')));
      process.removeListener('exit', killAll);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { instances: { type: 'string', default: '3' }, port: { type: 'string', default: '8080' } } });
  const instances = Number(values.instances);
  if (!Number.isInteger(instances) || instances < 1 || instances > 16) {
    console.error('--instances must be a whole number from 1 to 16');
    process.exit(1);
  }
  const cluster = await startCluster({
    instances,
    port: Number(values.port),
    databaseUrl: process.env.DATABASE_URL,
    redisUrl: process.env.REDIS_URL,
    redisPrefix: process.env.REDIS_PREFIX,
    echo: true,
  });
  console.log(`Portcullis cluster: ${cluster.url}/graphql (HAProxy, round robin) -> ${cluster.instances.map((p) => p.url).join(', ')}; one worker`);
  console.log('Ctrl-C stops everything.');
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    console.log('stopping the cluster…');
    await cluster.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}
