// Webhook delivery (npm run bench:webhooks): a service process with the default policies sends
// 1,000 user.updated events (admin name changes, 20 in flight) to one local receiver that verifies
// every signature with standardwebhooks. Reports deliveries per second and the time from the event
// (the payload timestamp, taken in the committing transaction) to its arrival: median, p99, max.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { startReceiver } from '../scripts/webhook-receiver.ts';
import { ms, percentile, scratchDatabase, startService } from './lib.ts';

const EVENTS = Number(process.env.BENCH_WEBHOOK_EVENTS ?? 1000);
const IN_FLIGHT = Number(process.env.BENCH_WEBHOOK_IN_FLIGHT ?? 20);

const receiver = await startReceiver();
const db = await scratchDatabase();
const service = await startService({
  DATABASE_URL: db.url,
  ENCRYPTION_KEY: randomBytes(32).toString('base64'),
  WEBHOOK_ALLOW_PRIVATE: 'true',
  RATE_LIMITS: 'register=off;login=off;adminUpdateUser=off;adminCreateWebhook=off',
});

async function gql(query: string, variables: Record<string, unknown> = {}, token?: string) {
  const res = await fetch(`${service.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
    body: JSON.stringify({ query, variables }),
  });
  const json = (await res.json()) as { data?: any; errors?: unknown };
  if (!json.data) throw new Error(JSON.stringify(json.errors));
  return json.data;
}

try {
  const register = `mutation($input: RegisterInput!) { register(input: $input) { token user { id } } }`;
  const admin = (await gql(register, { input: { email: 'bench-admin@example.com', password: 'bench password 1' } })).register;
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  await client.query(`UPDATE "User" SET role = 'ADMIN' WHERE id = $1`, [admin.user.id]);
  await client.end();
  const target = (await gql(register, { input: { email: 'bench-target@example.com', password: 'bench password 2' } })).register.user.id;
  const created = await gql(
    `mutation($input: AdminCreateWebhookInput!) { adminCreateWebhook(input: $input) { secret } }`,
    { input: { url: receiver.url, events: ['user.updated'] } },
    admin.token,
  );
  receiver.secret = created.adminCreateWebhook.secret;

  const update = `mutation($id: ID!, $name: String) { adminUpdateUser(id: $id, input: { name: $name }) { id } }`;
  // Warm-up: connections and JIT.
  await gql(update, { id: target, name: 'warm-up' }, admin.token);
  await receiver.waitFor((all) => all.length === 1, 60_000);
  receiver.received.length = 0;

  const start = Date.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < EVENTS) await gql(update, { id: target, name: `name ${next++}` }, admin.token);
    }),
  );
  const committed = Date.now();
  await receiver.waitFor((all) => all.length >= EVENTS, 300_000);
  const end = Date.now();

  const arrivals = receiver.received;
  const unverified = arrivals.filter((r) => !r.verified).length;
  const latencies = arrivals.map((r) => r.arrivedAt - Date.parse(r.payload!.timestamp)).sort((a, b) => a - b);
  const first = Math.min(...arrivals.map((r) => r.arrivedAt));
  console.log(
    `webhooks: ${EVENTS} events (${IN_FLIGHT} in flight) committed in ${((committed - start) / 1000).toFixed(2)} s; all delivered after ${((end - start) / 1000).toFixed(2)} s`,
  );
  console.log(
    `deliveries/s: ${(EVENTS / ((end - start) / 1000)).toFixed(0)} over the run, ${(EVENTS / ((end - first) / 1000)).toFixed(0)} first to last arrival; ` +
      `unverified ${unverified}, duplicates ${arrivals.length - new Set(arrivals.map((r) => r.id)).size}`,
  );
  console.log(
    `event -> arrival: median ${ms(percentile(latencies, 50))}, p90 ${ms(percentile(latencies, 90))}, p99 ${ms(percentile(latencies, 99))}, max ${ms(latencies.at(-1)!)}`,
  );
} finally {
  await service.stop();
  await receiver.close();
  await db.drop();
}
