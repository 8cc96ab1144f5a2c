// Fan-out of session revocations to idle WebSocket subscribers (npm run bench:fanout).
//
// Two service processes share PostgreSQL and Redis. N users each hold one idle graphql-ws
// connection to instance B subscribed to `sessionRevoked`; then every user's second session is
// revoked through instance A (HTTP), as fast as 64 concurrent requests allow. Reported: delivery
// latency from the server's revokedAt to the subscriber (cross-instance: commit, publish, Redis,
// B, socket), the time until all N events arrived, and B's resident memory per idle connection.
//
//   npm run bench:fanout              N = 1000 and 5000
//   BENCH_N=2000 npm run bench:fanout
import { randomUUID } from 'node:crypto';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { ms, percentile, scratchDatabase, seedUsers, startService } from './lib.ts';

const sizes = (process.env.BENCH_N ?? '1000,5000').split(',').map(Number);
const redisUrl = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

async function run(n: number) {
  const db = await scratchDatabase();
  const env = { DATABASE_URL: db.url, REDIS_URL: redisUrl, REDIS_PREFIX: `bench:${randomUUID()}:`, RATE_LIMITS: '' };
  const [a, b] = await Promise.all([startService(env), startService(env)]);
  const clients: Client[] = [];
  try {
    const users = await seedUsers(db.url, n, 3);
    await new Promise((r) => setTimeout(r, 500));
    const rssBefore = b.rssBytes();
    const heapBefore = await heapUsed(b.url);

    const received = new Map<string, number>();
    const latencies: number[] = [];
    let allArrived!: () => void;
    const done = new Promise<void>((r) => (allArrived = r));
    let subscribed = 0;
    let allSubscribed!: () => void;
    const ready = new Promise<void>((r) => (allSubscribed = r));

    const wsUrl = `${b.url.replace('http', 'ws')}/graphql`;
    for (let i = 0; i < users.length; i += 200) {
      await Promise.all(
        users.slice(i, i + 200).map(
          (user) =>
            new Promise<void>((resolve, reject) => {
              const client = createClient({
                url: wsUrl,
                webSocketImpl: WebSocket,
                lazy: false,
                retryAttempts: 0,
                connectionParams: { authorization: `Bearer ${user.tokens[0]}` },
                on: { connected: () => resolve(), error: reject },
              });
              clients.push(client);
              client.subscribe(
                { query: 'subscription { sessionRevoked { sessionId revokedAt } }' },
                {
                  next: ({ data }) => {
                    const event = (data as { sessionRevoked: { sessionId: string; revokedAt: string } }).sessionRevoked;
                    const now = Date.now();
                    received.set(event.sessionId, now);
                    latencies.push(now - Date.parse(event.revokedAt));
                    if (received.size === n) allArrived();
                  },
                  error: (err) => console.error('subscription error', err),
                  complete: () => {},
                },
              );
            }),
        ),
      );
    }
    // Subscriptions are registered once the server has run the subscribe; wait for the gauge to settle.
    await new Promise((r) => setTimeout(r, 1000 + n / 5));
    subscribed = clients.length;
    allSubscribed();
    await ready;
    const rssIdle = b.rssBytes();
    const heapIdle = await heapUsed(b.url);

    const revoke = async (token: string, sessionId: string) => {
      const res = await fetch(`${a.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query: 'mutation($id: ID!) { revokeSession(id: $id) }', variables: { id: sessionId } }),
      });
      const body = (await res.json()) as { data?: { revokeSession: boolean } };
      if (!body.data?.revokeSession) throw new Error(`revocation failed: ${JSON.stringify(body)}`);
    };

    // Cross-instance latency without load: 100 revocations one at a time (third sessions).
    const quiet: number[] = [];
    for (const user of users.slice(0, 100)) {
      const before = latencies.length;
      await revoke(user.tokens[0]!, user.sessionIds[2]!);
      while (latencies.length === before) await new Promise((r) => setImmediate(r));
      quiet.push(latencies.pop()!);
    }
    received.clear();
    quiet.sort((x, y) => x - y);

    const started = Date.now();
    let next = 0;
    const worker = async () => {
      while (next < users.length) {
        const user = users[next++]!;
        await revoke(user.tokens[0]!, user.sessionIds[1]!);
      }
    };
    await Promise.all(Array.from({ length: 64 }, worker));
    const sent = Date.now();
    await Promise.race([done, new Promise((_, reject) => setTimeout(() => reject(new Error(`only ${received.size}/${n} events arrived`)), 60_000))]);
    const total = Date.now() - started;
    latencies.sort((x, y) => x - y);
    console.log(
      [
        `N=${n}`,
        `subscribers=${subscribed}`,
        `cross-instance latency, one revocation at a time (100): p50=${ms(percentile(quiet, 50))} p99=${ms(percentile(quiet, 99))}`,
        `burst of ${n} revocations (64 concurrent): delivery p50=${ms(percentile(latencies, 50))} p99=${ms(percentile(latencies, 99))} max=${ms(latencies.at(-1)!)}`,
        `revocations sent in ${ms(sent - started)}, all ${n} events delivered ${ms(total)} after the first`,
        `memory per idle connection: heap ${((heapIdle - heapBefore) / n / 1024).toFixed(1)} KB, RSS ${((rssIdle - rssBefore) / n / 1024).toFixed(1)} KB (RSS ${(rssBefore / 2 ** 20).toFixed(0)} -> ${(rssIdle / 2 ** 20).toFixed(0)} MB)`,
      ].join('\n  '),
    );
  } finally {
    await Promise.all(clients.map((c) => c.dispose()));
    await Promise.all([a.stop(), b.stop()]);
    await db.drop();
  }
}

/** V8 heap in use, from the service's own /metrics (after its idle-time collections). */
async function heapUsed(url: string): Promise<number> {
  await new Promise((r) => setTimeout(r, 2000));
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^portcullis_nodejs_heap_size_used_bytes (\S+)/m.exec(text)?.[1] ?? Number.NaN);
}

for (const n of sizes) await run(n);
