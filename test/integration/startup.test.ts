import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { freePort } from '../../scripts/free-port.ts';
import { startServiceProcess } from '../../scripts/service-process.ts';

// The newcomer's path: `npm start` with no environment at all runs an embedded PostgreSQL under
// DATA_DIR, applies the migrations, serves GraphiQL, and keeps the data across restarts.

const dataDir = await mkdtemp(join(tmpdir(), 'portcullis-start-'));
afterAll(() => rm(dataDir, { recursive: true, force: true }));

const portOpen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });

async function gql(url: string, query: string, token?: string) {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
    body: JSON.stringify({ query }),
  });
  return (await res.json()) as { data?: any; errors?: unknown[] };
}

it('starts with an embedded database, serves GraphiQL, keeps data across a restart and stops cleanly', { timeout: 120_000 }, async () => {
  const port = await freePort();
  const pgPort = await freePort();
  const env = { PORT: String(port), DATA_DIR: dataDir, EMBEDDED_POSTGRES_PORT: String(pgPort), LOG_LEVEL: 'info' };
  const url = `http://localhost:${port}`;

  const first = startServiceProcess(env);
  const ready = await first.waitFor(/GraphiQL at/, 90_000);
  expect(ready).toContain(`GraphiQL at http://localhost:${port}/graphql`);
  expect(JSON.parse(ready)).toMatchObject({ database: 'embedded', redis: 'in-process' });

  const page = await fetch(`${url}/graphql`, { headers: { accept: 'text/html' } });
  expect(page.status).toBe(200);
  expect(await page.text()).toMatch(/graphiql/i);

  const registered = await gql(url, 'mutation { register(input: { email: "newcomer@example.com", password: "first start!" }) { token } }');
  const token = registered.data.register.token as string;
  expect((await gql(url, '{ me { email } }', token)).data.me.email).toBe('newcomer@example.com');

  expect(await first.stop('SIGTERM')).toBe(0);
  expect(first.output()).toContain('shutting down');
  expect(await portOpen(pgPort)).toBe(false); // the embedded PostgreSQL stopped with the service

  const second = startServiceProcess(env);
  await second.waitFor(/GraphiQL at/, 60_000);
  try {
    expect((await gql(url, '{ me { email } }', token)).data.me.email).toBe('newcomer@example.com');
    const login = await gql(url, 'mutation { login(input: { email: "newcomer@example.com", password: "first start!" }) { user { email } } }');
    expect(login.data.login.user.email).toBe('newcomer@example.com');
  } finally {
    expect(await second.stop('SIGINT')).toBe(0);
  }
});
