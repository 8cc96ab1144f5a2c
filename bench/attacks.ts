// Run: `npm run bench:attacks` (2-3 min; BENCH_ATTACKS=sse,socket runs the attacks whose names hold
// those words, BENCH_ATTACK_TIMEOUT_S=20 bounds each). Replays the denial-of-service attacks of issue
// 11 one at a time, each against a fresh app (createApp, NODE_ENV=production) sent from a child
// process, /health probed every 50 ms. Prints one row per attack: requests sent, answers by status or
// close code, worst and p99 event-loop delay, worst /health latency, RSS growth after gc, wall time.
import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { killChildren } from './attacks/processes.ts';
import { runAttack, type Row } from './attacks/round.ts';
import { attacks } from './attacks/scenarios.ts';
import { formatTable } from './attacks/table.ts';
import { scratchDatabase, seedUsers } from './lib.ts';

const redisUrl = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const timeoutMs = Number(process.env.BENCH_ATTACK_TIMEOUT_S ?? 20) * 1000;
const only = (process.env.BENCH_ATTACKS ?? '')
  .split(',')
  .map((s) => s.trim().toLowerCase())
  .filter(Boolean);
const selected = attacks.filter((a) => !only.length || only.some((s) => a.name.toLowerCase().includes(s)));

const redisPrefix = `bench:attacks:${randomUUID()}:`;
const metricsToken = randomBytes(24).toString('hex');
const db = await scratchDatabase();

let cleaned: Promise<void> | undefined;
/** Drops the scratch database and this run's Redis keys; once, whoever asks first. */
const cleanUp = () =>
  (cleaned ??= (async () => {
    await db.drop().catch((err) => console.error('could not drop the scratch database:', err));
    const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    try {
      for (let cursor = '0', first = true; first || cursor !== '0'; first = false) {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${redisPrefix}*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length) await redis.del(...keys);
      }
    } catch (err) {
      console.error(`could not delete the Redis keys under ${redisPrefix}:`, err);
    } finally {
      redis.disconnect();
    }
  })());
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killChildren();
    void cleanUp().finally(() => process.exit(130));
  });
}

const rows: Row[] = [];
const started = performance.now();
try {
  const [user] = await seedUsers(db.url, 1, 1);
  const env = {
    NODE_ENV: 'production',
    ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    LOG_LEVEL: 'info',
    REDIS_URL: redisUrl,
    METRICS_TOKEN: metricsToken,
    RUN_WORKERS: 'false',
    // One address stands for many: per-address limits would hide the work each request costs.
    RATE_LIMITS: 'register=off;login=off',
  };
  for (const [i, attack] of selected.entries()) {
    process.stderr.write(`${attack.name} … `);
    // Keys of one attack (rate-limit counters) do not carry over to the next.
    const server = { databaseUrl: db.url, env: { ...env, REDIS_PREFIX: `${redisPrefix}${i}:` } };
    const row = await runAttack(attack.name, { server, token: user!.tokens[0]!, metricsToken, timeoutMs });
    process.stderr.write(`${row.appExited ?? (row.timedOut ? 'timed out' : `${row.wallSeconds.toFixed(1)} s`)}\n`);
    rows.push(row);
  }
} finally {
  await cleanUp();
}

console.log(`\nDenial-of-service attacks (issue 11), each against a fresh app, ${timeoutMs / 1000} s hard timeout each\n`);
console.log(formatTable(rows));
console.log(
  [
    '',
    "loop: perf_hooks.monitorEventLoopDelay({ resolution: 10 }) in the app's process (an idle loop reads ~10 ms).",
    'TIMED OUT: the app\'s loop was still stuck at the timeout and its process was killed; "loop max" is then',
    'the time /health had been waiting, and RSS is read without a garbage collection.',
    `Total ${((performance.now() - started) / 1000).toFixed(0)} s.`,
  ].join('\n'),
);
