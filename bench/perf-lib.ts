import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { verify, hash } from '@node-rs/argon2';
import WebSocket from 'ws';
import { defaultPasswordPolicy } from '../src/config/policies.ts';
import { revocationSubscriber, startService as startPlainService, type ServiceProcess } from './lib.ts';

// Pieces of bench/perf.ts: wrk runs that can overlap, a service process whose RSS can be read and
// whose heap can be collected on demand (SIGUSR2, only with --expose-gc), raw argon2, idle sockets.

export const seconds = Number(process.env.BENCH_SECONDS ?? 10);

/**
 * Runs wrk against `url` with JSON POST bodies (taken in turn); resolves with successful requests
 * per second. Failures are counted out and said (two logins of one address at once can collide).
 */
export function wrk(url: string, body: string | string[], headers: Record<string, string>, connections = 50, duration = seconds): Promise<number> {
  const bodies = Array.isArray(body) ? body : [body];
  const script = join(tmpdir(), `portcullis-perf-${process.pid}-${Math.random().toString(36).slice(2)}.lua`);
  const lines = [`wrk.method = "POST"`, `wrk.headers["content-type"] = "application/json"`, `bodies = { ${bodies.map((b) => JSON.stringify(b)).join(', ')} }`];
  lines.push(`n = 0`, `request = function() n = n % #bodies + 1; return wrk.format(nil, nil, nil, bodies[n]) end`);
  for (const [k, v] of Object.entries(headers)) lines.push(`wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`);
  writeFileSync(script, lines.join('\n'));
  const threads = Math.min(2, connections);
  const child = spawn('wrk', [`-t${threads}`, `-c${connections}`, `-d${duration}s`, '-s', script, url], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk) => (out += chunk));
  return new Promise((resolve, reject) =>
    child.once('exit', () => {
      const total = Number(/(\d+) requests in/.exec(out)?.[1]);
      const rate = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
      if (!total || Number.isNaN(rate)) return reject(new Error(`wrk said:\n${out}`));
      const failed = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
      if (failed) console.log(`  (${failed} of ${total} requests failed)`);
      return resolve((rate * (total - failed)) / total);
    }),
  );
}

export interface Service extends ServiceProcess {
  /** Full GC in the service (it was started with --expose-gc), then a moment for the heap to shrink. */
  collect(): Promise<void>;
}

/** Starts the service as `npm start` does, plus --expose-gc. */
export async function startService(env: Record<string, string>): Promise<Service> {
  const service = await startPlainService(env, ['--expose-gc']);
  return {
    ...service,
    async collect() {
      service.signal('SIGUSR2');
      await sleep(1500);
    },
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Raw argon2id verifies per second with the service's parameters, one at a time per core. */
export async function argon2Rate(password: string, duration = seconds): Promise<number> {
  const options = { algorithm: 2, ...defaultPasswordPolicy.argon2 };
  const stored = await hash(password, options);
  const until = performance.now() + duration * 1000;
  let done = 0;
  const lane = async () => {
    while (performance.now() < until) {
      await verify(stored, password, options);
      done++;
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: availableParallelism() }, lane));
  return done / ((performance.now() - start) / 1000);
}

/**
 * Opens `tokens.length` graphql-ws sockets, each subscribed to sessionRevoked, each from its own
 * forwarded address (the service trusts loopback as a proxy), so the per-address cap is not hit.
 */
export async function openIdleSockets(httpUrl: string, tokens: string[]): Promise<WebSocket[]> {
  const sockets: WebSocket[] = [];
  for (let i = 0; i < tokens.length; i += 250) {
    await Promise.all(
      tokens.slice(i, i + 250).map(async (token, j) => {
        const n = i + j;
        const { socket, acked } = revocationSubscriber(httpUrl, token, { 'x-forwarded-for': `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}` });
        sockets.push(socket);
        await acked;
      }),
    );
  }
  return sockets;
}
