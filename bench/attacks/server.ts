import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config/env.ts';

// The app under attack: createApp as in the tests, in a process of its own started by the bench
// (node --expose-gc), its event-loop delay and RSS measured here. A process of its own because an
// attack may block the loop for good (only a kill stops it then) and so that neither the attacker
// nor earlier attacks count in its RSS. It exits with the bench (IPC disconnect).
//
// Messages from the bench: { type: 'start', databaseUrl, env }, then 'begin' (collect garbage, read
// RSS, start measuring), 'end' (stop measuring, collect garbage, read RSS), 'close' (close, exit).

export interface ServerData {
  type: 'start';
  databaseUrl: string;
  env: Record<string, string>;
}

export interface Measurement {
  rssBytes: number;
  /** Event-loop delay over the attack, in ms (an idle loop reads about the 10 ms sampling interval). */
  delayMaxMs?: number;
  delayP99Ms?: number;
  /** Lines the app logged at level error or above during the attack. */
  errorLines?: number;
}

const send = (message: unknown) => process.send?.(message);
process.on('disconnect', () => process.exit(0));
// A blocked loop never sees the disconnect: a thread of its own ends the process once the bench is gone.
const watchdog = `const { workerData: bench } = require('node:worker_threads');
  setInterval(() => { if (process.ppid !== bench) process.kill(process.pid, 'SIGKILL'); }, 500);`;
new Worker(watchdog, { eval: true, workerData: process.ppid }).unref();
const { databaseUrl, env } = await new Promise<ServerData>((resolve) => process.once('message', resolve));

let errorLines = 0;
// pino writes one JSON line per call; nothing is kept, errors are only counted.
const discard = {
  write(line: string) {
    if (/"level":(5\d|60)/.test(line)) errorLines++;
  },
};

const app = createApp({ config: loadConfig({ ...env, HOST: '127.0.0.1' }), databaseUrl, logDestination: discard });
const url = await app.listen(0, '127.0.0.1');
const delay = monitorEventLoopDelay({ resolution: 10 });

const collectGarbage = () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
};

process.on('message', async (message: ServerData | 'begin' | 'end' | 'close') => {
  if (message === 'begin') {
    collectGarbage();
    errorLines = 0;
    delay.reset();
    delay.enable();
    send({ type: 'begun', rssBytes: process.memoryUsage().rss } satisfies Measurement & { type: string });
  } else if (message === 'end') {
    delay.disable();
    const measured = { delayMaxMs: delay.max / 1e6, delayP99Ms: delay.percentile(99) / 1e6, errorLines };
    collectGarbage();
    send({ type: 'ended', ...measured, rssBytes: process.memoryUsage().rss } satisfies Measurement & { type: string });
  } else if (message === 'close') {
    await app.close();
    process.exit(0);
  }
});

send({ type: 'ready', url });
