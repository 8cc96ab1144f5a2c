// The latency a rate limit adds (npm run bench:rate-limit): median of sequential requests to a
// service process with a limit on the operation vs the same operation unlimited, with the Redis
// store and with the in-process store. `login` runs with production argon2 parameters.
import { randomUUID } from 'node:crypto';
import { ms, percentile, scratchDatabase, startService } from './lib.ts';

const ME_REQUESTS = Number(process.env.BENCH_ME_REQUESTS ?? 2000);
const LOGIN_REQUESTS = Number(process.env.BENCH_LOGIN_REQUESTS ?? 100);
const redisUrl = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const huge = '1000000000';

async function timed(url: string, count: number, body: string, token?: string): Promise<number> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    const res = await fetch(`${url}/graphql`, { method: 'POST', headers, body });
    const json = (await res.json()) as { errors?: unknown };
    if (json.errors) throw new Error(JSON.stringify(json.errors));
    times.push(performance.now() - start);
  }
  return percentile(
    times.sort((a, b) => a - b),
    50,
  );
}

async function measure(store: 'redis' | 'memory', limited: boolean) {
  const db = await scratchDatabase();
  const limits = limited ? `me=${huge}/15m:IP;login=${huge}/15m:IP+EMAIL,${huge}/15m:IP;register=${huge}/1h:IP` : `me=off;login=off;register=off`;
  const env: Record<string, string> = { DATABASE_URL: db.url, RATE_LIMITS: limits };
  if (store === 'redis') Object.assign(env, { REDIS_URL: redisUrl, REDIS_PREFIX: `bench:${randomUUID()}:` });
  const service = await startService(env);
  try {
    const register = await fetch(`${service.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'mutation { register(input: { email: "bench@example.com", password: "bench password" }) { token } }' }),
    });
    const token = ((await register.json()) as { data: { register: { token: string } } }).data.register.token;
    const me = JSON.stringify({ query: '{ me { id email } }' });
    const login = JSON.stringify({ query: 'mutation { login(input: { email: "bench@example.com", password: "bench password" }) { token } }' });
    await timed(service.url, 200, me, token); // warm-up
    return { me: await timed(service.url, ME_REQUESTS, me, token), login: await timed(service.url, LOGIN_REQUESTS, login) };
  } finally {
    await service.stop();
    await db.drop();
  }
}

for (const store of ['redis', 'memory'] as const) {
  const off = await measure(store, false);
  const on = await measure(store, true);
  console.log(
    `${store} store: me median ${ms(off.me)} -> ${ms(on.me)} (+${ms(on.me - off.me)}); ` +
      `login median ${ms(off.login)} -> ${ms(on.login)} (+${ms(on.login - off.login)})`,
  );
}
