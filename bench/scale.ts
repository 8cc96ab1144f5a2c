// Scaling out behind HAProxy (npm run bench:scale): `{ me { id email } }` throughput with 1, 2 and
// 3 API instances (npm run cluster's topology, loopback only), then the cross-instance revocation
// latency: a subscriber pinned to one instance, its session revoked through another, timed from
// the request to the socket's close (4403). Bounded: BENCH_SECONDS per size (default 5), BENCH_REVOCATIONS
// samples (default 60). On a 2-core machine the load generator shares the cores with the
// instances, so the curve is expected to be flat; what matters is no errors and steady latency.
import { randomUUID } from 'node:crypto';
import { startCluster } from '../scripts/cluster.ts';
import { ms, percentile, revocationSubscriber, scratchDatabase, seedUsers } from './lib.ts';

const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const revocations = Number(process.env.BENCH_REVOCATIONS ?? 60);
const concurrency = 32;

async function throughput(url: string, token: string) {
  const latencies: number[] = [];
  let errors = 0;
  const body = JSON.stringify({ query: '{ me { id email } }' });
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const started = performance.now();
        try {
          const r = await fetch(`${url}/graphql`, { method: 'POST', headers, body });
          const json = (await r.json()) as { data?: { me?: { id: string } } };
          if (r.status !== 200 || !json.data?.me) errors++;
        } catch {
          errors++;
        }
        latencies.push(performance.now() - started);
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  return { rps: latencies.length / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99), errors, count: latencies.length };
}

const db = await scratchDatabase();
try {
  const [user] = await seedUsers(db.url, 1, revocations + 1);
  const token = user!.tokens[0]!;
  const rows: string[] = [];
  for (const instances of [1, 2, 3]) {
    const cluster = await startCluster({ instances, databaseUrl: db.url, redisPrefix: `bench:${randomUUID()}:` });
    try {
      await throughput(cluster.url, token).catch(() => undefined); // warm-up, discarded
      const r = await throughput(cluster.url, token);
      rows.push(`${instances} instance(s): ${r.rps.toFixed(0)} req/s, p50 ${ms(r.p50)}, p99 ${ms(r.p99)}, ${r.errors} errors in ${r.count} requests`);
      console.log(rows.at(-1));
      if (instances < 3) continue;

      // Revocation latency across instances: subscribers on instance i, revoked through i + 1.
      const subs = user!.tokens.slice(1).map((t, i) => ({ ...revocationSubscriber(cluster.instances[i % 3]!.url, t), sessionId: user!.sessionIds[i + 1]!, i }));
      await Promise.all(subs.map((s) => s.acked));
      await new Promise((r) => setTimeout(r, 1000)); // subscriptions registered on their instances
      const latencies: number[] = [];
      let notClosed = 0;
      for (const s of subs) {
        const through = cluster.instances[(s.i + 1) % 3]!.url;
        const started = performance.now();
        await fetch(`${through}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify({ query: 'mutation($id: ID!) { revokeSession(id: $id) }', variables: { id: s.sessionId } }),
        });
        const closed = await Promise.race([s.closed, new Promise<null>((r) => setTimeout(() => r(null), 5000))]);
        if (closed?.code === 4403) latencies.push(closed.at - started);
        else notClosed++;
      }
      latencies.sort((a, b) => a - b);
      rows.push(
        `revocation through another instance -> subscriber closed (4403): p50 ${ms(percentile(latencies, 50))}, p99 ${ms(percentile(latencies, 99))}, max ${ms(latencies.at(-1) ?? NaN)} over ${latencies.length} revocations; ${notClosed} not closed within 5 s`,
      );
      console.log(rows.at(-1));
      subs.forEach((s) => s.socket.terminate());
    } finally {
      await cluster.stop();
    }
  }
  console.log(`\n{ me } behind HAProxy, ${concurrency} concurrent clients, ${seconds} s per size:\n  ${rows.join('\n  ')}`);
} finally {
  await db.drop();
}
