import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { freePort } from '../../scripts/free-port.ts';
import { startServiceProcess } from '../../scripts/service-process.ts';

// Issue 20: a start that cannot succeed says so in ONE line that names the setting to change, and
// exits 1, without a stack. Retries are bounded (STARTUP_RETRY_SECONDS; 0 here: fail at once).

let db: TestDatabase;
let blocker: Server;
let takenPort: number;
beforeAll(async () => {
  db = await createTestDatabase();
  blocker = createServer();
  takenPort = await freePort();
  await new Promise<void>((resolve) => blocker.listen(takenPort, '0.0.0.0', resolve));
});
afterAll(async () => {
  await new Promise((resolve) => blocker?.close(resolve));
  await db?.drop();
});

/** Starts the service, waits for it to exit, and returns the exit code and the lines that are not JSON log lines. */
async function failedStart(env: Record<string, string>) {
  const service = startServiceProcess({ PORT: String(await freePort()), STARTUP_RETRY_SECONDS: '0', LOG_LEVEL: 'info', ...env });
  const code = await new Promise<number | null>((resolve) => service.child.once('exit', resolve));
  const output = service.output();
  const lines = output.split('\n').filter((l) => l.trim() && !l.startsWith('{'));
  return { code, lines, output };
}

function expectOneLine(result: Awaited<ReturnType<typeof failedStart>>, pattern: RegExp) {
  expect(result.code).toBe(1);
  expect(result.lines).toEqual([expect.stringMatching(pattern)]);
  expect(result.output).not.toMatch(/^\s+at /m); // no stack
  expect(result.output).not.toMatch(/undefined|Portcullis ready/);
}

it('port taken: names PORT', async () => {
  const result = await failedStart({ DATABASE_URL: db.url, PORT: String(takenPort) });
  expectOneLine(result, new RegExp(`^PORT ${takenPort} is already in use.*set PORT to a free port`));
});

it('database unreachable: names DATABASE_URL and where it looked, never the password', async () => {
  const port = await freePort();
  const result = await failedStart({ DATABASE_URL: `postgresql://postgres:hunter22@127.0.0.1:${port}/portcullis` });
  expectOneLine(result, new RegExp(`^DATABASE_URL: cannot reach the database at 127\\.0\\.0\\.1:${port}/portcullis`));
  expect(result.output).not.toContain('hunter22');
});

it('bad credentials: names DATABASE_URL and the user', async () => {
  const wrong = new URL(db.url);
  wrong.username = 'no_such_role';
  wrong.password = 'secret99';
  const result = await failedStart({ DATABASE_URL: wrong.toString() });
  expectOneLine(result, /^DATABASE_URL: the database refused the credentials of user "no_such_role"/);
  expect(result.output).not.toContain('secret99');
});

it('malformed DATABASE_URL: says what shape it needs', async () => {
  expectOneLine(
    await failedStart({ DATABASE_URL: 'postgresql://user@[not-a-host/x' }),
    /^DATABASE_URL is malformed: expected postgresql:\/\/user:password@host:5432\/database$/,
  );
  expectOneLine(await failedStart({ DATABASE_URL: 'mysql://localhost/x' }), /^Invalid configuration: DATABASE_URL: must be a postgres:\/\/ URL$/);
});

it('database not created yet: names it and says how to create it', async () => {
  const missing = new URL(db.url);
  missing.pathname = '/portcullis_not_created_yet';
  const result = await failedStart({ DATABASE_URL: missing.toString() });
  expectOneLine(
    result,
    /^DATABASE_URL names the database "portcullis_not_created_yet", which does not exist .*create it \(createdb portcullis_not_created_yet/,
  );
});

it('Redis down: names REDIS_URL after a bounded wait, and never logs ready', async () => {
  const port = await freePort();
  const started = Date.now();
  const result = await failedStart({ DATABASE_URL: db.url, REDIS_URL: `redis://127.0.0.1:${port}`, STARTUP_RETRY_SECONDS: '1' });
  expectOneLine(result, new RegExp(`^REDIS_URL: cannot reach Redis at 127\\.0\\.0\\.1:${port} \\(no answer within 1 s\\)`));
  expect(Date.now() - started).toBeLessThan(15_000);
  // The wait itself is announced once, not once per attempt.
  expect(result.output.match(/waiting for Redis/g)).toHaveLength(1);
});
