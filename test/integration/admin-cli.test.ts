import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { auditRows } from '../helpers/admin.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { freePort } from '../../scripts/free-port.ts';
import { login } from '../helpers/realtime.ts';
import { eventually } from '../helpers/eventually.ts';
import { SESSION_CACHE_TTL_MS } from '../../src/modules/sessions/session-cache.ts';

// The bootstrap CLI (`npm run admin -- create|promote …`), run as a real process against a test
// database through DATABASE_URL, and once against the embedded PostgreSQL when it is unset.

const root = new URL('../..', import.meta.url).pathname;
const PASSPHRASE = 'the very first admin';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs scripts/admin.ts on the tests' Node 24 with only the given environment. */
function cli(args: string[], env: Record<string, string>, stdin?: string): Promise<Run> {
  const child = spawn(process.execPath, ['scripts/admin.ts', ...args], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  child.stdin.end(stdin ?? '');
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
}

describe('with DATABASE_URL', () => {
  let db: TestDatabase;
  let t: TestApp;
  let env: Record<string, string>;
  beforeAll(async () => {
    // Not migrated: the CLI applies the migrations itself, as `npm start` does.
    db = await createTestDatabase({ migrate: false });
    env = { DATABASE_URL: db.url };
  });
  afterAll(async () => {
    await t?.close();
    await db.drop();
  });

  it('create makes an admin who can sign in and use the admin fields; audited as done by the CLI', async () => {
    const r = await cli(['create', '--email', ' Root@Example.com ', '--password', PASSPHRASE], env);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(/^Created admin root@example\.com \(id [0-9a-f-]{36}\)\.\n$/);
    t = await startTestApp({ db });
    t.rememberSecret(PASSPHRASE);
    const session = await login(t, 'root@example.com', PASSPHRASE);
    const listed = await t.gql(`{ adminUsers { totalCount edges { node { email role } } } }`, {}, { token: session.token });
    expect(listed.body.data.adminUsers).toEqual({ totalCount: 1, edges: [{ node: { email: 'root@example.com', role: 'ADMIN' } }] });
    const [created] = await auditRows(t, `type = 'admin.user.created'`);
    expect(created).toMatchObject({ actorId: null, data: { email: 'root@example.com', role: 'ADMIN', hasPassword: true, via: 'cli' } });
  });

  it('create refuses a taken email, a weak password and bad usage, with a non-zero exit and a clear message', async () => {
    const taken = await cli(['create', '--email', 'root@example.com'], env);
    expect(taken.code).toBe(1);
    expect(taken.stderr).toContain('An account with this email already exists');
    const weak = await cli(['create', '--email', 'weak@example.com', '--password', 'short'], env);
    expect(weak.code).toBe(1);
    expect(weak.stderr).toContain('Password must be at least 8 characters');
    const usage = [
      [],
      ['create'],
      ['delete', '--email', 'x@example.com'],
      ['create', '--email', 'x@example.com', '--bogus'],
      ['promote', '--email', 'x@example.com', '--password', 'whatever1'],
    ];
    for (const [args, bad] of await Promise.all(usage.map(async (args) => [args, await cli(args, env)] as const))) {
      expect(bad.code, args.join(' ')).toBe(2);
      expect(bad.stderr).toContain('usage: npm run admin');
    }
    expect(await db.query(`SELECT email FROM "User" ORDER BY email`)).toEqual([{ email: 'root@example.com' }]);
  });

  it('create --password-stdin reads the password from stdin; without any password the admin is passwordless', async () => {
    const r = await cli(['create', '--email', 'stdin@example.com', '--password-stdin'], env, `${PASSPHRASE}\n`);
    expect(r.code).toBe(0);
    await login(t, 'stdin@example.com', PASSPHRASE);
    const bare = await cli(['create', '--email', 'bare-admin@example.com'], env);
    expect(bare.code).toBe(0);
    expect(bare.stdout).toContain('without a password');
    expect(await db.query(`SELECT role, "passwordHash" FROM "User" WHERE email = 'bare-admin@example.com'`)).toEqual([{ role: 'ADMIN', passwordHash: null }]);
  });

  it('promote makes an existing account an admin; again is a no-op; an unknown email fails', async () => {
    const u = await t.register('promoted@example.com');
    expect((await t.gql(`{ adminUsers { totalCount } }`, {}, { token: u.token })).body.errors![0]!.extensions.code).toBe('FORBIDDEN');
    const r = await cli(['promote', '--email', 'PROMOTED@example.com'], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`Promoted promoted@example.com (id ${u.userId}) to ADMIN.\n`);
    // The running service sees the role within its session cache's lifetime (the CLI is another
    // process; without Redis it cannot mark the change for the service).
    await eventually(
      async () => (await t.gql(`{ adminUsers { totalCount } }`, {}, { token: u.token })).body.errors === undefined,
      'the promotion seen by the running service',
      SESSION_CACHE_TTL_MS + 1000,
    );
    const again = await cli(['promote', '--email', 'promoted@example.com'], env);
    expect(again).toMatchObject({ code: 0, stdout: `promoted@example.com (id ${u.userId}) is already an admin.\n` });
    const unknown = await cli(['promote', '--email', 'nobody@example.com'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('No user with this email');
    expect((await auditRows(t, `"userId" = $1 AND type = 'admin.user.updated'`, [u.userId])).map((e) => e.data)).toEqual([
      { changes: { role: { from: 'USER', to: 'ADMIN' } }, via: 'cli' },
    ]);
  });
});

describe('without DATABASE_URL', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'portcullis-admin-cli-'));
  });
  afterAll(() => rm(dataDir, { recursive: true, force: true }));

  it('uses the embedded PostgreSQL under DATA_DIR, as npm start does, and stops it again', { timeout: 120_000 }, async () => {
    const port = await freePort();
    const env = { DATA_DIR: dataDir, EMBEDDED_POSTGRES_PORT: String(port) };
    const portOpen = () =>
      new Promise<boolean>((resolve) => {
        const socket = connect(port, '127.0.0.1');
        socket.once('connect', () => (socket.destroy(), resolve(true)));
        socket.once('error', () => resolve(false));
      });
    const created = await cli(['create', '--email', 'embedded@example.com'], env);
    expect(created.stderr).toBe('');
    expect(created).toMatchObject({ code: 0, stdout: expect.stringContaining('Created admin embedded@example.com') });
    // The data stays under DATA_DIR: a second run (a new embedded start) finds the account.
    const again = await cli(['promote', '--email', 'embedded@example.com'], env);
    expect(again).toMatchObject({ code: 0, stdout: expect.stringContaining('is already an admin') });
    expect(await portOpen()).toBe(false);
  });
});
