// Mail delivery through the job queue (npm run bench:mail): a service process with the default
// queue policy (pollingIntervalSeconds 2, LISTEN/NOTIFY on) sends through the real SendGrid client
// to a local fake of POST /v3/mail/send.
// - latency: requestMagicLink -> the fake receives the mail, 20 sequential requests (median, p90, max);
// - throughput: 200 requests for distinct addresses (20 in flight), then the time until every mail
//   arrived; mails per second over the whole run and over the worker's span (first to last arrival).
import { randomUUID } from 'node:crypto';
import { startSendgridFake } from '../scripts/sendgrid-fake.ts';
import { ms, percentile, scratchDatabase, startService } from './lib.ts';

const LATENCY_REQUESTS = Number(process.env.BENCH_MAIL_LATENCY_REQUESTS ?? 20);
const THROUGHPUT_MAILS = Number(process.env.BENCH_MAIL_COUNT ?? 200);
const IN_FLIGHT = Number(process.env.BENCH_MAIL_IN_FLIGHT ?? 20);
const huge = '1000000000';

const fake = await startSendgridFake();
const db = await scratchDatabase();
const service = await startService({
  DATABASE_URL: db.url,
  SENDGRID_API_KEY: 'SG.bench',
  SENDGRID_API_URL: fake.url,
  RATE_LIMITS: `requestMagicLink=${huge}/1h:IP,${huge}/15m:EMAIL`,
});

async function requestMagicLink(email: string): Promise<void> {
  const res = await fetch(`${service.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: 'mutation($email: String!) { requestMagicLink(input: { email: $email }) }', variables: { email } }),
  });
  const json = (await res.json()) as { data?: { requestMagicLink: boolean }; errors?: unknown };
  if (json.data?.requestMagicLink !== true) throw new Error(JSON.stringify(json.errors));
}

try {
  const run = randomUUID().slice(0, 8);
  // Warm-up: the first mail pays for connections and JIT.
  await requestMagicLink(`warm-${run}@example.com`);
  await fake.waitForMails(1, { timeoutMs: 60_000 });
  fake.reset();

  const latencies: number[] = [];
  for (let i = 0; i < LATENCY_REQUESTS; i++) {
    const email = `latency-${i}-${run}@example.com`;
    const start = performance.now();
    await requestMagicLink(email);
    const [mail] = await fake.waitForMails(1, { to: email, timeoutMs: 60_000 });
    latencies.push(mail!.receivedAt - start);
  }
  latencies.sort((a, b) => a - b);
  console.log(
    `latency requestMagicLink -> mail at the fake (${LATENCY_REQUESTS} sequential): median ${ms(percentile(latencies, 50))}, ` +
      `p90 ${ms(percentile(latencies, 90))}, min ${ms(latencies[0]!)}, max ${ms(latencies.at(-1)!)}`,
  );

  fake.reset();
  const start = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < THROUGHPUT_MAILS) await requestMagicLink(`bulk-${next++}-${run}@example.com`);
    }),
  );
  const requested = performance.now() - start;
  const mails = await fake.waitForMails(THROUGHPUT_MAILS, { timeoutMs: 600_000 });
  const first = Math.min(...mails.map((m) => m.receivedAt));
  const last = Math.max(...mails.map((m) => m.receivedAt));
  const total = last - start;
  console.log(
    `throughput: ${THROUGHPUT_MAILS} requests answered in ${ms(requested)}; all mails at the fake after ${ms(total)} ` +
      `(${(THROUGHPUT_MAILS / (total / 1000)).toFixed(1)} mails/s overall, ` +
      `${((THROUGHPUT_MAILS - 1) / ((last - first) / 1000)).toFixed(1)} mails/s from the first to the last arrival)`,
  );
  if (fake.requests.length !== THROUGHPUT_MAILS) console.log(`note: the fake received ${fake.requests.length} requests for ${THROUGHPUT_MAILS} mails`);
} finally {
  await service.stop();
  await db.drop();
  await fake.close();
}
