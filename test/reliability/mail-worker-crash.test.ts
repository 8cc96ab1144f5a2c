import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { startServiceProcess, type ServiceProcess } from '../../scripts/service-process.ts';
import { startSlowProvider, type SlowProvider } from '../../scripts/slow-provider.ts';

// Issue 21: a worker SIGKILLed in the middle of a send left its job active for pg-boss's default
// 900 s. Mail jobs now carry a heartbeat: a dead worker's job is failed and retried within seconds,
// and the mail is delivered once within 30 s of a new worker starting.

let t: TestApp;
let provider: SlowProvider;
const workers: ServiceProcess[] = [];

beforeAll(async () => {
  provider = await startSlowProvider({ holdFirst: true });
  const env = { RUN_WORKERS: 'false', SENDGRID_API_KEY: 'SG.test-key', SENDGRID_API_URL: provider.url };
  t = await startTestApp({ env });
});
afterAll(async () => {
  for (const worker of workers) await worker.stop('SIGKILL');
  await t?.close();
  await provider?.close();
});

const startWorker = async () => {
  const worker = startServiceProcess(
    { DATABASE_URL: t.db.url, SENDGRID_API_KEY: 'SG.test-key', SENDGRID_API_URL: provider.url, LOG_LEVEL: 'info' },
    'src/worker.ts',
  );
  workers.push(worker);
  await worker.waitFor(/Portcullis worker ready/);
  return worker;
};

const mailRows = () => t.db.query<{ id: string; status: string; attempts: number }>(`SELECT id, status, attempts FROM "Mail"`);

it('retries the mail of a worker killed mid-send within 30 s of a new worker starting, and delivers it once', { timeout: 60_000 }, async () => {
  const first = await startWorker();
  expect((await t.gql(`mutation { requestMagicLink(input: { email: "crash@example.com" }) }`)).body.data.requestMagicLink).toBe(true);
  await provider.untilReceived(1); // the send is under way and the provider holds it
  expect(await first.stop('SIGKILL')).toBe(null);

  const restartedAt = Date.now();
  await startWorker();
  const deadline = restartedAt + 30_000;
  while (provider.accepted.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const deliveredMs = Date.now() - restartedAt;
  expect(deliveredMs).toBeLessThan(30_000);
  console.info(`worker crash: mail delivered ${deliveredMs} ms after the new worker started`);

  // Once: the held request was never accepted, the retry was, and nothing follows it.
  await new Promise((r) => setTimeout(r, 1500));
  const [row] = await mailRows();
  expect(provider.accepted).toEqual([row!.id]);
  expect(row).toMatchObject({ status: 'SENT', attempts: 2 });
  const [job] = await t.db.query(`SELECT state, retry_count AS "retryCount" FROM pgboss.job WHERE name = 'send-mail'`);
  expect(job).toMatchObject({ state: 'completed', retryCount: 1 });
});
