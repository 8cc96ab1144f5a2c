import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { startServiceProcess, type ServiceProcess } from '../../scripts/service-process.ts';

// Operators may run the job workers apart from the API (`npm run worker`, RUN_WORKERS=false on the
// API instances): mail queued by the API is then delivered by the worker process.

let t: TestApp;
let worker: ServiceProcess | undefined;
beforeAll(async () => {
  t = await startTestApp({ env: { RUN_WORKERS: 'false' } });
});
afterAll(async () => {
  await worker?.stop();
  await t.close();
});

const outbox = async () =>
  ((await (await fetch(`${t.url}/dev/outbox`, { headers: { accept: 'application/json' } })).json()) as { mails: Array<{ to: string }> }).mails;

it('leaves mail queued without workers, and a separate `npm run worker` process delivers it', async () => {
  const r = await t.gql(`mutation { requestMagicLink(input: { email: "split@example.com" }) }`);
  expect(r.body.data.requestMagicLink).toBe(true);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  expect(await outbox()).toEqual([]); // nobody works the queue in the API process

  worker = startServiceProcess({ DATABASE_URL: t.db.url, LOG_LEVEL: 'info' }, 'src/worker.ts');
  await worker.waitFor(/Portcullis worker ready/);
  const deadline = Date.now() + 15_000;
  while ((await outbox()).length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  expect((await outbox()).map((m) => m.to)).toEqual(['split@example.com']);
  expect(await worker.stop()).toBe(0);
});

it('refuses to start the worker on an unreachable DATABASE_URL with one line naming it', async () => {
  const lonely = startServiceProcess({ DATABASE_URL: 'postgresql://nobody@127.0.0.1:1/none', STARTUP_RETRY_SECONDS: '0' }, 'src/worker.ts');
  const code = await new Promise<number | null>((resolve) => lonely.child.once('exit', resolve));
  expect(code).toBe(1);
  expect(lonely.output().trim().split('\n')).toEqual([expect.stringMatching(/^DATABASE_URL: cannot reach the database at 127\.0\.0\.1:1/)]);
});
