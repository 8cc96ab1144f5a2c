import { afterAll, beforeAll, expect, it } from 'vitest';
import { eventually } from '../helpers/eventually.ts';
import { gql, startTestCluster, type Answer, type TestCluster } from './cluster-client.ts';

// Issue 19's acceptance, the failure half: under a steady load of writes through HAProxy, an
// instance killed with SIGKILL loses no committed write and HAProxy sends the rest elsewhere; a
// rolling restart (drain in HAProxy, SIGTERM, start again, one instance after the other) drops no
// request. Every answer is counted: HAProxy retries only connections that failed to open, never a
// request that reached an instance, so nothing hides an error.

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await startTestCluster({ env: { RATE_LIMITS: 'register=off' } });
}, 90_000);
afterAll(async () => {
  await cluster?.close();
});

interface Sent {
  email: string;
  startedAt: number;
  answer: Answer;
}

/** `concurrency` clients registering passwordless accounts through HAProxy until stopped. */
function writeLoad(label: string, concurrency = 6) {
  const sent: Sent[] = [];
  let running = true;
  let n = 0;
  const loops = Array.from({ length: concurrency }, async () => {
    while (running) {
      const email = `${label}-${n++}@example.com`;
      const startedAt = performance.now();
      const answer = await gql(cluster.url, `mutation($e: String!) { register(input: { email: $e }) { user { id } } }`, { e: email });
      sent.push({ email, startedAt, answer });
    }
  });
  return {
    sent,
    async stop() {
      running = false;
      await Promise.all(loops);
      return sent;
    },
  };
}

const succeeded = (s: Sent) => s.answer.status === 200 && Boolean(s.answer.body.data?.register?.user?.id);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function storedEmails(label: string): Promise<Set<string>> {
  const rows = await cluster.db.query<{ email: string }>(`SELECT email FROM "User" WHERE email LIKE $1`, [`${label}-%`]);
  return new Set(rows.map((r) => r.email));
}

it('loses no committed write when an instance is killed under load, and HAProxy routes around it', async () => {
  const victim = cluster.instances[1]!;
  const load = writeLoad('killed');
  await sleep(1500);
  await victim.stop('SIGKILL');
  // From here on the process is gone: a request that reaches HAProxy now must not fail.
  const goneAt = performance.now();
  await eventually(async () => (await cluster.haproxy.servers()).get(victim.name)!.status.startsWith('DOWN'), 'HAProxy to mark the killed instance DOWN', 5000);
  const routedBefore = (await cluster.haproxy.servers()).get(victim.name)!.sessions;
  await sleep(1500);
  const sent = await load.stop();

  // Every write that got a success answer is in the database.
  const stored = await storedEmails('killed');
  const committed = sent.filter(succeeded);
  expect(committed.length).toBeGreaterThan(20);
  expect(committed.filter((s) => !stored.has(s.email))).toEqual([]);
  // Only requests in flight on the killed instance may fail: HAProxy answers 502, or cuts the
  // connection when the instance died in the middle of its answer. No more than one per client.
  const failed = sent.filter((s) => !succeeded(s));
  expect(failed.length).toBeLessThanOrEqual(6);
  expect(failed.filter((s) => s.startedAt > goneAt || ![0, 502].includes(s.answer.status))).toEqual([]);
  // Every request after the kill succeeded (refused connections are retried on another instance),
  // and once HAProxy had marked the instance DOWN nothing more was sent its way.
  expect(sent.filter((s) => s.startedAt > goneAt).length).toBeGreaterThan(10);
  expect((await cluster.haproxy.servers()).get(victim.name)!.sessions).toBe(routedBefore);

  // Back on its feet, it takes its share again.
  await victim.start();
  await eventually(async () => (await cluster.haproxy.servers()).get(victim.name)!.status.startsWith('UP'), 'the restarted instance to be UP', 10_000);
});

it('drops no request during a rolling restart (drain in HAProxy, SIGTERM, start again, one by one)', async () => {
  const load = writeLoad('rolling');
  await sleep(500);
  const exitCodes: Array<number | string | null> = [];
  for (const [i, instance] of cluster.instances.entries()) {
    await cluster.drain(i);
    exitCodes.push(await instance.stop('SIGTERM'));
    await instance.start();
    await cluster.enable(i);
    await sleep(300);
  }
  const sent = await load.stop();

  const failed = sent.filter((s) => !succeeded(s));
  expect(failed.map((s) => `${s.answer.status} ${s.answer.body.errors?.[0]?.message}`)).toEqual([]);
  expect(exitCodes).toEqual([0, 0, 0]);
  expect(sent.length).toBeGreaterThan(30);
  const stored = await storedEmails('rolling');
  expect(sent.filter((s) => !stored.has(s.email))).toEqual([]);
  // Every instance is back in rotation.
  const servers = await cluster.haproxy.servers();
  for (const p of cluster.instances) expect(servers.get(p.name)!.status).toMatch(/^UP/);
});
