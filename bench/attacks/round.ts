import type { RunRequest } from './client.ts';
import { probeHealth } from './health-probe.ts';
import { nextMessage, required, rssOf, running, startChild, stopChild, type Child } from './processes.ts';
import type { Measurement, ServerData } from './server.ts';
import type { Tally } from './traffic.ts';

// One attack, one row: a fresh app in a process of its own, the attacker in another, /health probed
// from here. Whatever happens, both are gone when runAttack returns.

export interface Row {
  attack: string;
  tally: Tally;
  timedOut: boolean;
  /** Set when the app's process ended during the attack (a crash, an out-of-memory kill). */
  appExited?: string;
  delayMaxMs?: number;
  delayP99Ms?: number;
  healthWorstMs: number;
  healthFailures: number;
  rssGrowthBytes: number;
  /** Read from /proc without a garbage collection, the app's loop being stuck. */
  rssWithoutGc: boolean;
  wallSeconds: number;
  errorLines?: number;
  /** Lines the app's process printed on its console during the round. */
  consoleLines: number;
}

export interface RoundSetup {
  server: Omit<ServerData, 'type'>;
  token: string;
  metricsToken: string;
  timeoutMs: number;
}

export async function runAttack(attack: string, setup: RoundSetup): Promise<Row> {
  const server = startChild('./server.ts', ['--expose-gc']);
  const client = startChild('./client.ts');
  const app = server.process;
  let stuck = true;
  try {
    app.send({ type: 'start', ...setup.server } satisfies ServerData);
    const [ready, attacker] = await Promise.all([nextMessage(app, 'ready', 60_000), nextMessage(client.process, 'ready', 30_000)]);
    const url = String(required(ready, 'the app did not start', server).url);
    required(attacker, 'the attacker did not start', client);
    const rssBefore = await baseline(url, setup.token, server);

    let tally: Tally = { sent: 0, answers: {} };
    client.process.on('message', (m: { type?: string; tally?: Tally }) => {
      if ((m?.type === 'progress' || m?.type === 'result') && m.tally) tally = m.tally;
    });
    const health = probeHealth(url);
    const started = performance.now();
    const hardStop = Date.now() + setup.timeoutMs;
    const request: RunRequest = { attack, url, token: setup.token, metricsToken: setup.metricsToken, deadline: hardStop - 2000 };
    // The app's process ending meanwhile is a result (the attack crashed it), not a broken bench.
    const appGone = new Promise<{ type: 'failed'; message: string }>((resolve) =>
      app.once('exit', () => resolve({ type: 'failed', message: 'the app exited' })),
    );
    const answered = nextMessage(client.process, 'result', setup.timeoutMs);
    client.process.send(request);
    const result = await Promise.race([answered, appGone]);
    if (result?.type === 'failed' && running(app)) required(result, attack, client);
    const wallSeconds = (performance.now() - started) / 1000;

    let measured: Measurement | undefined;
    if (result && running(app)) {
      const ended = nextMessage(app, 'ended', Math.max(0, hardStop - Date.now()));
      app.send('end');
      const answer = await ended;
      if (answer?.type === 'ended') measured = answer as unknown as Measurement;
    }
    const { worstMs, failures } = health.stop();
    const appExited = running(app) ? undefined : `app exited (${app.signalCode ?? app.exitCode})`;
    const timedOut = !measured && !appExited;
    stuck = timedOut;
    return {
      attack,
      tally,
      timedOut,
      appExited,
      delayMaxMs: measured?.delayMaxMs,
      delayP99Ms: measured?.delayP99Ms,
      healthWorstMs: worstMs,
      healthFailures: failures,
      rssGrowthBytes: (measured?.rssBytes ?? (appExited ? Number.NaN : rssOf(app.pid!))) - rssBefore,
      rssWithoutGc: timedOut,
      wallSeconds: timedOut ? setup.timeoutMs / 1000 : wallSeconds,
      errorLines: measured?.errorLines,
      consoleLines: server.output().length,
    };
  } finally {
    await stopChild(client.process, 'release', 3000);
    // A stuck app is killed at once; otherwise it closes (its drain lasts up to 5 s), then is killed.
    await stopChild(app, 'close', stuck ? 0 : 8000);
  }
}

/**
 * The app's RSS after one ordinary request (the database client's first query and the schema's
 * caches are lazy) and a garbage collection; its event-loop histogram starts then.
 */
async function baseline(url: string, token: string, server: Child): Promise<number> {
  await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: '{ me { id } }' }),
    signal: AbortSignal.timeout(10_000),
  }).then((r) => r.text());
  const begun = nextMessage(server.process, 'begun', 10_000);
  server.process.send('begin');
  return Number(required(await begun, 'no measurement before the attack', server).rssBytes);
}
