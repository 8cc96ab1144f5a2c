import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { embeddedDatabaseUrl } from '../../src/platform/embedded-postgres.ts';
import { freePort } from '../../scripts/free-port.ts';
import { startServiceProcess } from '../../scripts/service-process.ts';
import { startSlowProvider, type SlowProvider } from '../../scripts/slow-provider.ts';

// Issue 20: `npm start` with the embedded PostgreSQL stops cleanly however it is told to: Ctrl-C
// (SIGINT to the whole foreground process group), SIGTERM to `npm` alone (supervisors, IDE stop
// buttons), or the death of npm. Exit 0, no stack, no PostgreSQL or node process left, the next
// start works, and a mail in flight at the signal is delivered (the provider answers 2 s late).

const root = new URL('../..', import.meta.url).pathname;
let dataDir: string;
let provider: SlowProvider;
let env: Record<string, string>;
let url: string;
let pgPort: number;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'portcullis-stop-'));
  provider = await startSlowProvider({ answerAfterMs: 2_000 });
  const port = await freePort();
  pgPort = await freePort();
  url = `http://127.0.0.1:${port}`;
  env = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    DATA_DIR: dataDir,
    PORT: String(port),
    HOST: '127.0.0.1',
    EMBEDDED_POSTGRES_PORT: String(pgPort),
    SENDGRID_API_KEY: 'SG.test-key',
    SENDGRID_API_URL: provider.url,
    LOG_LEVEL: 'info',
  };
});
afterAll(async () => {
  for (const pid of pgrepDataDir()) process.kill(pid, 'SIGKILL');
  await provider?.close();
  await rm(dataDir, { recursive: true, force: true });
});

interface NpmStart {
  npm: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  nodePid: number;
}

/** `npm start` in a process group of its own (as a terminal runs it), ready to serve. */
async function npmStart(extraEnv: Record<string, string> = {}): Promise<NpmStart> {
  const npm = spawn('npm', ['start'], { cwd: root, env: { ...env, ...extraEnv }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  npm.stdout!.on('data', (d) => (text += d));
  npm.stderr!.on('data', (d) => (text += d));
  const exited = new Promise<number | null>((resolve) => npm.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 60_000;
  while (!text.includes('Portcullis ready')) {
    if (npm.exitCode !== null || Date.now() > deadline) throw new Error(`npm start did not get ready:\n${text}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  // `start` execs node: npm's only child is the service itself.
  const nodePid = Number(execFileSync('pgrep', ['-P', String(npm.pid)], { encoding: 'utf8' }).trim());
  expect(readFileSync(`/proc/${nodePid}/cmdline`, 'utf8')).toContain('src/main.ts');
  return { npm, output: () => text, exited, nodePid };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Live processes whose command line names our data folder: the embedded PostgreSQL's. */
function pgrepDataDir(): number[] {
  try {
    return execFileSync('pgrep', ['-f', dataDir], { encoding: 'utf8' }).trim().split('\n').map(Number).filter(alive);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

async function gql(query: string) {
  const res = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) });
  return (await res.json()) as { data?: any };
}

async function expectCleanExit(run: NpmStart, exitCode: number | null) {
  expect(exitCode, run.output()).toBe(0);
  expect(run.output()).toContain('shutting down');
  expect(run.output()).not.toMatch(/^\s+at |Unhandled|uncaught|"level":50|undefined/im);
  expect(alive(run.nodePid)).toBe(false);
  expect(pgrepDataDir()).toEqual([]);
}

it('Ctrl-C (SIGINT to the process group) with a mail in flight: exit 0, mail delivered, nothing left running', { timeout: 120_000 }, async () => {
  const run = await npmStart();
  expect(pgrepDataDir().length).toBeGreaterThan(0);
  expect((await gql('mutation { requestMagicLink(input: { email: "inflight@example.com" }) }')).data.requestMagicLink).toBe(true);
  await provider.untilReceived(1); // the worker is now waiting for the provider's late answer
  process.kill(-run.npm.pid!, 'SIGINT');
  await expectCleanExit(run, await run.exited);
  expect(provider.accepted).toHaveLength(1);

  // The next start works, finds the mail sent (not left active, not sent again).
  const next = await npmStart();
  const db = new pg.Client({ connectionString: embeddedDatabaseUrl(pgPort) });
  await db.connect();
  try {
    const { rows } = await db.query(`SELECT status::text FROM "Mail"`);
    expect(rows).toEqual([{ status: 'SENT' }]);
    const jobs = await db.query(`SELECT state::text FROM pgboss.job WHERE name = 'send-mail'`);
    expect(jobs.rows).toEqual([{ state: 'completed' }]);
  } finally {
    await db.end();
  }
  process.kill(next.npm.pid!, 'SIGTERM');
  await expectCleanExit(next, await next.exited);
  expect(provider.received).toBe(1);
});

it('Ctrl-C under traffic, three times running: each stop is clean (the database outlives the drain)', { timeout: 120_000 }, async () => {
  for (let round = 0; round < 3; round++) {
    const run = await npmStart();
    let stop = false;
    const traffic = Array.from({ length: 4 }, async (_, client) => {
      for (let n = 0; !stop; n++) {
        const query = `mutation { register(input: { email: "load-${round}-${client}-${n}@example.com", password: "correct horse battery" }) { token } }`;
        await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) }).catch(() => {});
      }
    });
    await new Promise((r) => setTimeout(r, 500));
    process.kill(-run.npm.pid!, 'SIGINT');
    const code = await run.exited;
    stop = true;
    await Promise.all(traffic);
    await expectCleanExit(run, code);
  }
});

it('SIGTERM to npm alone: exit 0, nothing left running; tools and a second start beside it behave', { timeout: 120_000 }, async () => {
  const run = await npmStart();
  // `npm run worker` (no DATABASE_URL) finds the running service's embedded database.
  const worker = startServiceProcess({ ...env, PORT: '0' }, 'src/worker.ts');
  expect(await worker.waitFor(/Portcullis worker ready/)).toContain('"database":"embedded"');
  expect(await worker.stop('SIGTERM')).toBe(0);
  expect((await fetch(`${url}/ready`)).status).toBe(200); // the worker left the service's database running

  // The same data folder twice, or the embedded port taken: one line naming the setting.
  const twice = startServiceProcess({ ...env, PORT: String(await freePort()) });
  expect(await new Promise((resolve) => twice.child.once('exit', resolve))).toBe(1);
  expect(twice.output()).toMatch(/^DATA_DIR .* is in use by another running Portcullis .*set DATA_DIR to another folder$/m);
  const otherDir = await mkdtemp(join(tmpdir(), 'portcullis-stop-other-'));
  try {
    const portTaken = startServiceProcess({ ...env, PORT: String(await freePort()), DATA_DIR: otherDir });
    expect(await new Promise((resolve) => portTaken.child.once('exit', resolve))).toBe(1);
    expect(portTaken.output()).toMatch(new RegExp(`^EMBEDDED_POSTGRES_PORT ${pgPort} is already in use: set EMBEDDED_POSTGRES_PORT to a free port`, 'm'));
    for (const failed of [twice, portTaken]) expect(failed.output()).not.toMatch(/undefined|^\s+at /m);
  } finally {
    await rm(otherDir, { recursive: true, force: true });
  }

  process.kill(run.npm.pid!, 'SIGTERM');
  await expectCleanExit(run, await run.exited);
});

it('npm killed outright: the service notices its parent is gone and stops, PostgreSQL last', { timeout: 120_000 }, async () => {
  const run = await npmStart();
  process.kill(run.npm.pid!, 'SIGKILL');
  const deadline = Date.now() + 15_000;
  while ((alive(run.nodePid) || pgrepDataDir().length) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  expect(alive(run.nodePid)).toBe(false);
  expect(pgrepDataDir()).toEqual([]);
});

it('a mail whose provider never answers is handed back to the queue at the stop, not left active, and sent after the restart', {
  timeout: 120_000,
}, async () => {
  const stuck = await startSlowProvider({ holdFirst: true, onlyTo: 'held@example.com' });
  try {
    const run = await npmStart({ SENDGRID_API_URL: stuck.url });
    expect((await gql('mutation { requestMagicLink(input: { email: "held@example.com" }) }')).data.requestMagicLink).toBe(true);
    await stuck.untilReceived(1);
    const stopping = Date.now();
    process.kill(run.npm.pid!, 'SIGTERM');
    await expectCleanExit(run, await run.exited);
    expect(Date.now() - stopping).toBeLessThan(15_000); // the jobs in hand get 5 s, then they are failed for a retry

    const next = await npmStart({ SENDGRID_API_URL: stuck.url });
    const db = new pg.Client({ connectionString: embeddedDatabaseUrl(pgPort) });
    await db.connect();
    try {
      const job = `SELECT state::text, retry_count AS "retryCount" FROM pgboss.job WHERE name = 'send-mail' AND data->>'email' = 'held@example.com'`;
      const [handedBack] = (await db.query(job)).rows;
      expect(handedBack.state).not.toBe('active');
      const deadline = Date.now() + 30_000;
      while (stuck.accepted.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(stuck.accepted).toHaveLength(1); // the retry, from the new start
      expect(stuck.received).toBe(2);
    } finally {
      await db.end();
    }
    process.kill(next.npm.pid!, 'SIGTERM');
    await expectCleanExit(next, await next.exited);
  } finally {
    await stuck.close();
  }
});
