import { spawn, type ChildProcess } from 'node:child_process';

// A service as its own process, for the tests of start, stop and faults and for the fault benchmark.

export interface ServiceProcess {
  child: ChildProcess;
  output: () => string;
  /** Resolves with the first output line matching, or rejects after `ms`. */
  waitFor(pattern: RegExp, ms?: number): Promise<string>;
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Runs `node src/main.ts` (or another entry) on the same Node 24 as the tests, with only the given environment. */
export function startServiceProcess(env: Record<string, string>, entry = 'src/main.ts'): ServiceProcess {
  const child = spawn(process.execPath, [entry], {
    cwd: new URL('..', import.meta.url).pathname,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout!.on('data', (d) => (text += d));
  child.stderr!.on('data', (d) => (text += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    output: () => text,
    waitFor: (pattern, ms = 30_000) =>
      new Promise((resolve, reject) => {
        const started = Date.now();
        const poll = () => {
          const line = text.split('\n').find((l) => pattern.test(l));
          if (line) return resolve(line);
          if (child.exitCode !== null) return reject(new Error(`process exited (${child.exitCode}):\n${text}`));
          if (Date.now() - started > ms) return reject(new Error(`timed out waiting for ${pattern}:\n${text}`));
          setTimeout(poll, 50);
        };
        poll();
      }),
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}
