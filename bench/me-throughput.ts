// Throughput of `{ me { id email } }` with a Bearer token against a bare graphql-yoga `{ hello }`
// server, measured with wrk on loopback in one run (npm run bench:me; needs `wrk`, from Debian's
// packages). DESIGN.md's target: at least 70% of the bare server's requests per second.
import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, scratchDatabase, startService } from './lib.ts';

const seconds = Number(process.env.BENCH_SECONDS ?? 10);

function wrk(url: string, body: string, headers: Record<string, string>): number {
  const script = join(tmpdir(), `portcullis-wrk-${process.pid}.lua`);
  const lines = [`wrk.method = "POST"`, `wrk.body = ${JSON.stringify(body)}`, `wrk.headers["content-type"] = "application/json"`];
  for (const [k, v] of Object.entries(headers)) lines.push(`wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`);
  writeFileSync(script, lines.join('\n'));
  const out = execFileSync('wrk', ['-t2', '-c50', `-d${seconds}s`, '-s', script, url], { encoding: 'utf8' });
  if (/Non-2xx/.test(out)) throw new Error(`wrk saw errors:\n${out}`);
  return Number(/Requests\/sec:\s+([\d.]+)/.exec(out)![1]);
}

const db = await scratchDatabase();
const service = await startService({ DATABASE_URL: db.url, RATE_LIMITS: 'register=off' });
const port = await freePort();
const hello = spawn(process.execPath, [new URL('./hello-yoga.ts', import.meta.url).pathname], {
  env: { ...process.env, PORT: String(port) },
  stdio: ['ignore', 'pipe', 'inherit'],
});
await new Promise((resolve) => hello.stdout!.once('data', resolve));
try {
  const r = await fetch(`${service.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: 'mutation { register(input: { email: "bench-me@example.com", password: "bench password" }) { token } }' }),
  });
  const token = ((await r.json()) as { data: { register: { token: string } } }).data.register.token;
  const baseline = wrk(`http://127.0.0.1:${port}/graphql`, JSON.stringify({ query: '{ hello }' }), {});
  const me = wrk(`${service.url}/graphql`, JSON.stringify({ query: '{ me { id email } }' }), process.env.ANON ? {} : { authorization: `Bearer ${token}` });
  console.log(
    `bare yoga { hello }: ${baseline.toFixed(0)} req/s; { me { id email } } with a Bearer token: ${me.toFixed(0)} req/s (${((100 * me) / baseline).toFixed(0)}%)`,
  );
} finally {
  hello.kill();
  await service.stop();
  await db.drop();
}
