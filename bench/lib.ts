import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import WebSocket from 'ws';
import { freePort } from '../scripts/free-port.ts';
import { hashToken, newToken } from '../src/platform/crypto.ts';
import { applyMigrations } from '../src/platform/migrate.ts';

export { freePort };

// Shared pieces of the benchmarks: a scratch database, service processes, users made directly in
// the database (no argon2: that is not what these benchmarks measure), percentiles.

export const adminUrl = process.env.BENCH_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

export async function scratchDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `portcullis_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  await applyMigrations(url.toString());
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export interface SeededUser {
  userId: string;
  /** Tokens of the user's sessions, in order; session ids alongside. */
  tokens: string[];
  sessionIds: string[];
}

/** Inserts `count` users with `sessionsEach` live sessions each, in a few large statements. */
export async function seedUsers(databaseUrl: string, count: number, sessionsEach: number): Promise<SeededUser[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const users: SeededUser[] = [];
  const now = new Date();
  const later = new Date(now.getTime() + 7 * 24 * 3600 * 1000);
  for (let offset = 0; offset < count; offset += 1000) {
    const batch = Math.min(1000, count - offset);
    const ids = (
      await client.query<{ id: string }>(
        `INSERT INTO "User" (id, email, "createdAt", "updatedAt")
       SELECT gen_random_uuid(), 'bench' || g || '-' || $2 || '@example.com', $1, $1 FROM generate_series(1, $3) g RETURNING id`,
        [now, randomBytes(3).toString('hex'), batch],
      )
    ).rows.map((r) => r.id);
    const rows: unknown[] = [];
    for (const userId of ids) {
      const user: SeededUser = { userId, tokens: [], sessionIds: [] };
      for (let i = 0; i < sessionsEach; i++) {
        const token = newToken();
        user.tokens.push(token);
        rows.push([userId, hashToken(token)]);
      }
      users.push(user);
    }
    const inserted = await client.query<{ id: string; userId: string; tokenHash: string }>(
      `INSERT INTO "Session" (id, "tokenHash", "userId", method, "createdAt", "lastSeenAt", "expiresAt", "idleExpiresAt")
       SELECT gen_random_uuid(), t.hash, t.uid::uuid, 'PASSWORD', $1, $1, $2, $2
       FROM unnest($3::text[], $4::text[]) AS t(uid, hash) RETURNING id, "userId", "tokenHash"`,
      [now, later, rows.map((r) => (r as string[])[0]), rows.map((r) => (r as string[])[1])],
    );
    const byHash = new Map(inserted.rows.map((r) => [r.tokenHash, r.id]));
    for (const user of users.slice(offset)) user.sessionIds = user.tokens.map((t) => byHash.get(hashToken(t))!);
  }
  await client.end();
  return users;
}

export interface ServiceProcess {
  url: string;
  pid: number;
  rssBytes(): number;
  signal(name: NodeJS.Signals): void;
  stop(): Promise<void>;
}

/** The environment and node flags `npm start` runs the service with (its memory settings). */
function npmStartSettings(): { env: Record<string, string>; flags: string[] } {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: { start: string } };
  const words = pkg.scripts.start.split(/\s+/);
  const env = Object.fromEntries(words.filter((w) => /^[A-Z_]+=/.test(w)).map((w) => [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)]));
  return { env, flags: words.filter((w) => w.startsWith('--')) };
}

/**
 * Starts `node src/main.ts` as `npm start` does (its flags and environment, then `nodeArgs` and
 * `env`), so every benchmark measures the service as it runs; resolves once it is ready.
 */
export async function startService(env: Record<string, string>, nodeArgs: string[] = []): Promise<ServiceProcess> {
  const port = await freePort();
  const start = npmStartSettings();
  const child: ChildProcess = spawn(process.execPath, [...start.flags, ...nodeArgs, 'src/main.ts'], {
    cwd: new URL('..', import.meta.url).pathname,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'warn', HOST: '127.0.0.1', PORT: String(port), ...start.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${url}/health`)).ok) break;
    } catch {}
    if (i > 300 || child.exitCode !== null) throw new Error('service did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    pid: child.pid!,
    rssBytes: () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) * 1024,
    signal: (name) => void child.kill(name),
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export const ms = (n: number) => `${n.toFixed(1)} ms`;

/**
 * A graphql-transport-ws subscriber of sessionRevoked: `acked` once subscribed (rejected when the
 * socket fails or closes first), `closed` with the close code and when it came.
 */
export function revocationSubscriber(httpUrl: string, token: string, headers: Record<string, string> = {}) {
  const socket = new WebSocket(`${httpUrl.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws', { headers });
  const closed = new Promise<{ code: number; at: number }>((resolve) => socket.once('close', (code) => resolve({ code, at: performance.now() })));
  const acked = new Promise<void>((resolve, reject) => {
    socket.once('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } })));
    socket.on('message', (data) => {
      if (JSON.parse(String(data)).type !== 'connection_ack') return;
      socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: 'subscription { sessionRevoked { sessionId } }' } }));
      resolve();
    });
    socket.once('error', reject);
    socket.once('close', (code) => reject(new Error(`socket closed (${code})`)));
  });
  return { acked, closed, socket };
}
