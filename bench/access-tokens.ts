// Access tokens (issue 17), on loopback in one run: tokens issued per second by Portcullis, and
// verifications per second by the example resource server (examples/resource-server/, a cached
// JWKS: no call to Portcullis per request), each as a ratio to `{ me { id } }` with a Bearer
// token on Portcullis. Every request must succeed. npm run bench:access-tokens
// (BENCH_SECONDS, default 5 per measure; BENCH_CONCURRENCY, default 32 requests in flight).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { freePort, scratchDatabase, startService } from './lib.ts';

const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 32);
const ISSUER = 'http://localhost:4000';

/** Completed requests per second with `concurrency` in flight for `seconds`; throws on any failure. */
async function throughput(request: () => Promise<Response>, check: (body: string) => boolean, forSeconds = seconds): Promise<number> {
  const deadline = performance.now() + forSeconds * 1000;
  let done = 0;
  const worker = async () => {
    while (performance.now() < deadline) {
      const response = await request();
      const body = await response.text();
      if (!response.ok || !check(body)) throw new Error(`unexpected answer ${response.status}: ${body.slice(0, 200)}`);
      done++;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  return done / ((performance.now() - started) / 1000);
}

const db = await scratchDatabase();
const service = await startService({
  DATABASE_URL: db.url,
  PUBLIC_URL: ISSUER,
  ENCRYPTION_KEY: randomBytes(32).toString('base64'),
  RATE_LIMITS: 'register=off;issueAccessToken=off',
});
const port = await freePort();
const resourceServer = spawn(process.execPath, [new URL('../examples/resource-server/server.ts', import.meta.url).pathname], {
  env: { ...process.env, PORTCULLIS_URL: ISSUER, JWKS_URL: `${service.url}/.well-known/jwks.json`, PORT: String(port) },
  stdio: ['ignore', 'pipe', 'inherit'],
});
await new Promise((resolve) => resourceServer.stdout!.once('data', resolve));
try {
  const graphql = (query: string, token: string) => () =>
    fetch(`${service.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query }),
    });
  const registered = await fetch(`${service.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: 'mutation { register(input: { email: "bench-jwt@example.com", password: "bench password" }) { token } }' }),
  });
  const sessionToken = ((await registered.json()) as { data: { register: { token: string } } }).data.register.token;
  const issueOnce = await (await graphql('mutation { issueAccessToken { token } }', sessionToken)()).json();
  const accessToken = (issueOnce as { data: { issueAccessToken: { token: string } } }).data.issueAccessToken.token;

  // A second of each first, unmeasured: JIT, connection pools and the key cache warm up.
  const measure = async (request: () => Promise<Response>, check: (body: string) => boolean) => {
    await throughput(request, check, 1);
    return throughput(request, check);
  };
  const measures = {
    me: [graphql('{ me { id } }', sessionToken), (b: string) => b.includes('"me":{')],
    issued: [graphql('mutation { issueAccessToken { token } }', sessionToken), (b: string) => b.includes('"token":"ey')],
    // Tokens live 300 s; one is reused throughout, as a client would until it expires.
    verified: [() => fetch(`http://127.0.0.1:${port}/`, { headers: { authorization: `Bearer ${accessToken}` } }), (b: string) => b.includes('"sub"')],
  } as const;
  // Two rounds, the three measures taken in turn: a load that comes and goes on the box weighs on all three.
  const totals = { me: 0, issued: 0, verified: 0 };
  for (let round = 0; round < 2; round++) {
    for (const [name, [request, check]] of Object.entries(measures)) totals[name as keyof typeof totals] += (await measure(request, check)) / 2;
  }
  const { me, issued, verified } = totals;
  const pct = (n: number) => `${((100 * n) / me).toFixed(0)}%`;
  console.log(`{ me { id } } on Portcullis: ${me.toFixed(0)} req/s (${concurrency} in flight, two rounds of ${seconds} s each)`);
  console.log(`issueAccessToken: ${issued.toFixed(0)} tokens/s (${pct(issued)} of { me })`);
  console.log(`resource server, cached JWKS: ${verified.toFixed(0)} verifications/s (${pct(verified)} of { me })`);
} finally {
  resourceServer.kill();
  await service.stop();
  await db.drop();
}
