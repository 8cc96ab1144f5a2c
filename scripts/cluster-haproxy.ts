import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';

// HAProxy in front of the cluster's API instances: its configuration, its process and its runtime
// API (a Unix socket), through which an operator drains a server before stopping it.

export const BACKEND = 'portcullis';

export interface HaproxyOptions {
  port: number;
  servers: { name: string; port: number }[];
  /** Directory for the configuration file and the runtime API socket. */
  dir: string;
}

/** Round robin on 127.0.0.1 only; health checks on /ready; long tunnel timeout for WebSockets. */
export function haproxyConfig({ port, servers, dir }: HaproxyOptions): string {
  return [
    'global',
    `  stats socket ${join(dir, 'haproxy.sock')} mode 600 level admin`,
    '  maxconn 2000',
    '',
    'defaults',
    '  mode http',
    '  option forwardfor',
    '  timeout connect 2s',
    '  timeout client 30s',
    '  timeout server 30s',
    '  timeout http-request 10s',
    '  timeout http-keep-alive 10s',
    // A WebSocket (or an SSE stream) is a tunnel once upgraded: subscriptions stay open for hours.
    '  timeout tunnel 1h',
    '  timeout client-fin 5s',
    // A request that could not reach a server (refused: the instance died) goes to another one.
    // Only connection failures are retried: a request that reached a server is never sent twice.
    '  retries 3',
    '  option redispatch 1',
    '  retry-on conn-failure',
    // A fresh server connection per request: a request never rides a kept-alive connection to an
    // instance that has just died (that one is cut, and not retried), it is refused and retried.
    '  option http-server-close',
    '',
    'frontend api',
    `  bind 127.0.0.1:${port}`,
    `  default_backend ${BACKEND}`,
    '',
    `backend ${BACKEND}`,
    '  balance roundrobin',
    '  option httpchk GET /ready',
    '  http-check expect status 200',
    '  default-server check inter 1s fastinter 250ms downinter 500ms fall 2 rise 1 on-marked-down shutdown-sessions',
    ...servers.map((s) => `  server ${s.name} 127.0.0.1:${s.port}`),
    '',
  ].join('\n');
}

export interface Haproxy {
  child: ChildProcess;
  /** Sends one runtime API command and resolves with its answer. */
  command(line: string): Promise<string>;
  /** Server name -> status as HAProxy sees it (UP, DOWN, MAINT, DRAIN …) and requests sent to it. */
  servers(): Promise<Map<string, { status: string; sessions: number; current: number }>>;
  stop(): Promise<void>;
}

export function haproxyBinary(): string {
  for (const dir of (process.env.PATH ?? '').split(':').concat('/usr/sbin', '/usr/local/sbin')) {
    if (dir && existsSync(join(dir, 'haproxy'))) return join(dir, 'haproxy');
  }
  throw new Error("haproxy not found: install Debian's package (apt-get install -y haproxy)");
}

export async function startHaproxy(options: HaproxyOptions): Promise<Haproxy> {
  const file = join(options.dir, 'haproxy.cfg');
  const socket = join(options.dir, 'haproxy.sock');
  writeFileSync(file, haproxyConfig(options));
  // -db: stay in the foreground, so the process we hold is HAProxy itself and a signal stops it.
  const child = spawn(haproxyBinary(), ['-db', '-f', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let errors = '';
  child.stderr!.on('data', (d) => (errors += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const command = (line: string) =>
    new Promise<string>((resolve, reject) => {
      const s = connect(socket);
      let out = '';
      s.on('connect', () => s.end(`${line}\n`));
      s.on('data', (d) => (out += d));
      s.on('end', () => resolve(out));
      s.on('error', reject);
    });
  const servers = async () => {
    const csv = (await command('show stat')).split('\n');
    const header = csv[0]!.replace(/^# /, '').split(',');
    const col = (name: string) => header.indexOf(name);
    const result = new Map<string, { status: string; sessions: number; current: number }>();
    for (const row of csv.slice(1).map((l) => l.split(','))) {
      if (row[col('pxname')] !== BACKEND || ['BACKEND', 'FRONTEND', undefined].includes(row[col('svname')])) continue;
      result.set(row[col('svname')]!, { status: row[col('status')]!, sessions: Number(row[col('stot')]), current: Number(row[col('scur')]) });
    }
    return result;
  };

  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`haproxy exited:\n${errors}`);
    if (existsSync(socket) && (await command('show info').catch(() => '')).includes('Pid:')) break;
    if (i > 200) throw new Error(`haproxy did not start:\n${errors}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child,
    command,
    servers,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
