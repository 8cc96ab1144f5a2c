import { Agent, request } from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { relaxedRateLimits } from '../helpers/app.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { freePort } from '../../scripts/free-port.ts';
import { startServiceProcess, type ServiceProcess } from '../../scripts/service-process.ts';

// Issue 21: SIGTERM under load. Clients on kept-alive connections register accounts without pause;
// the service gets SIGTERM. Every request must end either answered (its account exists) or refused
// before it ran (503, or a connection closed or refused: its account does not exist), /ready stops
// answering 200 at the signal, and the process exits within the 5 s drain.

let db: TestDatabase;
let service: ServiceProcess;
let url: string;

beforeAll(async () => {
  db = await createTestDatabase();
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  service = startServiceProcess({ DATABASE_URL: db.url, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info', RATE_LIMITS: relaxedRateLimits });
  await service.waitFor(/Portcullis ready/, 60_000);
});
afterAll(async () => {
  await service?.stop('SIGKILL');
  await db?.drop();
});

interface Outcome {
  email: string;
  status: number | 'error';
  connection?: string;
  sentAt: number;
  answeredAt: number;
}

function post(agent: Agent, path: string, body: string): Promise<{ status: number; connection?: string; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, connection: res.headers.connection, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function registerLoop(agent: Agent, client: number, outcomes: Outcome[], until: () => boolean) {
  for (let n = 0; !until(); n++) {
    const email = `drain-${client}-${n}@example.com`;
    const query = `mutation($input: RegisterInput!) { register(input: $input) { user { id } } }`;
    const sentAt = performance.now();
    try {
      const r = await post(agent, '/graphql', JSON.stringify({ query, variables: { input: { email, password: 'correct horse battery' } } }));
      const ok = r.status === 200 && JSON.parse(r.text).data?.register?.user?.id;
      outcomes.push({ email, status: ok ? 200 : r.status, connection: r.connection, sentAt, answeredAt: performance.now() });
    } catch {
      outcomes.push({ email, status: 'error', sentAt, answeredAt: performance.now() });
      await new Promise((r) => setTimeout(r, 20)); // refused: the listener is closed; try again shortly
    }
  }
}

it('under load, answers every request it ran, refuses the rest before running them, and exits within the drain', { timeout: 30_000 }, async () => {
  const agent = new Agent({ keepAlive: true, maxSockets: 6 });
  const outcomes: Outcome[] = [];
  const probes: Array<{ sentAt: number; status: number | 'error' }> = [];
  let exited = false;
  const exitCode = new Promise<number | null>((resolve) => service.child.once('exit', (code) => ((exited = true), resolve(code))));
  const loops = Array.from({ length: 6 }, (_, i) => registerLoop(agent, i, outcomes, () => exited));
  const probing = (async () => {
    while (!exited) {
      const sentAt = performance.now();
      const status = await fetch(`${url}/ready`).then(
        (r) => r.status,
        () => 'error' as const,
      );
      probes.push({ sentAt, status });
      await new Promise((r) => setTimeout(r, 10));
    }
  })();

  while (outcomes.filter((o) => o.status === 200).length < 20) await new Promise((r) => setTimeout(r, 20));
  const signalAt = performance.now();
  service.child.kill('SIGTERM');
  expect(await exitCode).toBe(0);
  const exitMs = performance.now() - signalAt;
  await Promise.all([...loops, probing]);
  agent.destroy();

  // Exit within the drain, and /ready no longer 200 once the signal is handled.
  expect(exitMs).toBeLessThan(5000);
  expect(probes.filter((p) => p.sentAt > signalAt + 100 && p.status === 200)).toEqual([]);
  expect(probes.some((p) => p.sentAt < signalAt && p.status === 200)).toBe(true);

  // No committed write without its answer, no answer without its write.
  const answered = outcomes.filter((o) => o.status === 200).map((o) => o.email);
  const refused = outcomes.filter((o) => o.status !== 200);
  const rows = await db.query<{ email: string }>(`SELECT email FROM "User" WHERE email LIKE 'drain-%'`);
  expect(rows.map((r) => r.email).sort()).toEqual([...answered].sort());
  expect(refused.every((o) => o.status === 503 || o.status === 'error')).toBe(true);
  // Requests in flight at the signal were finished, not cut, and told to close their connection
  // (those answered before the process handled the signal kept theirs).
  const finishedDuringDrain = outcomes.filter((o) => o.status === 200 && o.connection === 'close');
  expect(finishedDuringDrain.length).toBeGreaterThan(0);
  expect(finishedDuringDrain.every((o) => o.sentAt < signalAt)).toBe(true);
  console.info(
    `drain: ${answered.length} answered, ${refused.length} refused (${refused.filter((o) => o.status === 503).length} with 503), exit ${Math.round(exitMs)} ms after SIGTERM`,
  );
  expect(service.output()).toContain('shutting down');
});
