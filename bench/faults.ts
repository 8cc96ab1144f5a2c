// `npm run bench:faults`: replays the faults of issue 21 on loopback, each bounded in time, and
// prints one row per scenario: requests answered, errors by code, mails expected/delivered/doubled
// and the worst latency. Services are real processes (src/main.ts, src/worker.ts) on scratch
// databases; Redis is a redis-server of its own; the mail provider is a local stand-in.

import { Agent, request } from 'node:http';
import pg from 'pg';
import { startOwnRedis, type OwnRedis } from '../scripts/own-redis.ts';
import { startServiceProcess, type ServiceProcess } from '../scripts/service-process.ts';
import { startSlowProvider } from '../scripts/slow-provider.ts';
import { connectWs } from '../scripts/ws-connection.ts';
import { freePort, scratchDatabase } from './lib.ts';

const LIMITS = 'register=10000/1h:IP;login=10000/15m:IP+EMAIL,10000/15m:IP;requestMagicLink=10000/1h:IP';
const PASSWORD = 'correct horse battery';

interface Row {
  scenario: string;
  answered: number;
  errors: Record<string, number>;
  mails?: { expected: number; delivered: number; doubled: number };
  worstMs: number;
  note: string;
}

async function service(env: Record<string, string>, entry = 'src/main.ts'): Promise<{ proc: ServiceProcess; url: string }> {
  const port = await freePort();
  const proc = startServiceProcess({ HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'info', RATE_LIMITS: LIMITS, ...env }, entry);
  await proc.waitFor(entry === 'src/main.ts' ? /Portcullis ready/ : /worker ready/, 60_000);
  return { proc, url: `http://127.0.0.1:${port}` };
}

async function gql(url: string, query: string, variables: object = {}, token?: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, body: await res.json() };
}

const count = (into: Record<string, number>, key: string) => void (into[key] = (into[key] ?? 0) + 1);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function post(agent: Agent, url: string, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/graphql`, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res
        .on('data', (d) => (text += d))
        .on('end', () => resolve({ status: res.statusCode!, text }))
        .on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function sigtermUnderLoad(): Promise<Row> {
  const db = await scratchDatabase();
  const { proc, url } = await service({ DATABASE_URL: db.url });
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  const errors: Record<string, number> = {};
  const answered: string[] = [];
  const failed: string[] = [];
  let worst = 0;
  let exited = false;
  const exit = new Promise<number | null>((resolve) => proc.child.once('exit', (code) => ((exited = true), resolve(code))));
  const loops = Array.from({ length: 8 }, async (_, client) => {
    for (let n = 0; !exited; n++) {
      const email = `load-${client}-${n}@example.com`;
      const started = performance.now();
      const body = JSON.stringify({
        query: 'mutation($i: RegisterInput!) { register(input: $i) { user { id } } }',
        variables: { i: { email, password: PASSWORD } },
      });
      try {
        const r = await post(agent, url, body);
        worst = Math.max(worst, performance.now() - started);
        if (r.status === 200 && JSON.parse(r.text).data?.register) answered.push(email);
        else count(errors, String(r.status)), failed.push(email);
      } catch (err) {
        count(errors, (err as NodeJS.ErrnoException).code ?? 'socket error');
        failed.push(email);
        await sleep(20);
      }
    }
  });
  // Under load first: at least 20 accounts answered (at most 20 s), then the signal.
  for (const until = performance.now() + 20_000; answered.length < 20 && performance.now() < until; ) await sleep(20);
  const signalAt = performance.now();
  proc.child.kill('SIGTERM');
  const code = await exit;
  const exitMs = performance.now() - signalAt;
  await Promise.all(loops);
  agent.destroy();
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  const { rows } = await client.query(`SELECT email FROM "User" WHERE email = ANY($1)`, [failed]);
  await client.end();
  await db.drop();
  return {
    scenario: 'SIGTERM under load (8 keep-alive clients registering)',
    answered: answered.length,
    errors,
    worstMs: worst,
    note: `exit ${code} after ${Math.round(exitMs)} ms; committed without an answer: ${rows.length}`,
  };
}

async function workerKilledMidSend(): Promise<Row> {
  const db = await scratchDatabase();
  const provider = await startSlowProvider({ holdFirst: true });
  const mailEnv = { DATABASE_URL: db.url, SENDGRID_API_KEY: 'SG.bench', SENDGRID_API_URL: provider.url };
  const api = await service({ ...mailEnv, RUN_WORKERS: 'false' });
  const first = await service(mailEnv, 'src/worker.ts');
  const errors: Record<string, number> = {};
  const r = await gql(api.url, 'mutation { requestMagicLink(input: { email: "crash@example.com" }) }');
  if (r.status !== 200) count(errors, String(r.status));
  await provider.untilReceived(1);
  first.proc.child.kill('SIGKILL');
  const second = await service(mailEnv, 'src/worker.ts');
  const restarted = performance.now();
  while (!provider.accepted.length && performance.now() - restarted < 60_000) await sleep(100);
  const deliveredMs = performance.now() - restarted;
  await sleep(3000); // a second copy would come now
  await Promise.all([second.proc.stop(), api.proc.stop()]);
  await provider.close();
  await db.drop();
  const delivered = new Set(provider.accepted).size;
  return {
    scenario: 'worker SIGKILLed mid-send, new worker started',
    answered: r.status === 200 ? 1 : 0,
    errors,
    mails: { expected: 1, delivered, doubled: provider.accepted.length - delivered },
    worstMs: deliveredMs,
    note: 'latency: new worker start -> mail accepted',
  };
}

async function lateProvider(): Promise<Row> {
  const db = await scratchDatabase();
  const provider = await startSlowProvider({ answerAfterMs: 11_000 });
  const api = await service({ DATABASE_URL: db.url, SENDGRID_API_KEY: 'SG.bench', SENDGRID_API_URL: provider.url });
  const errors: Record<string, number> = {};
  let answered = 0;
  for (let i = 0; i < 5; i++) {
    const r = await gql(api.url, `mutation { requestMagicLink(input: { email: "late-${i}@example.com" }) }`);
    if (r.status === 200 && r.body.data?.requestMagicLink) answered++;
    else count(errors, String(r.status));
  }
  const started = performance.now();
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  let sent = 0;
  while (sent < 5 && performance.now() - started < 75_000) {
    await sleep(250);
    sent = Number((await client.query(`SELECT count(*) FROM "Mail" WHERE status = 'SENT'`)).rows[0].count);
  }
  const worst = performance.now() - started;
  await sleep(2000);
  await client.end();
  await api.proc.stop();
  await provider.close();
  await db.drop();
  const delivered = new Set(provider.accepted).size;
  return {
    scenario: 'provider accepts at once, answers after 11 s (5 mails)',
    answered,
    errors,
    mails: { expected: 5, delivered, doubled: provider.accepted.length - delivered },
    worstMs: worst,
    note: `${sent} marked SENT; latency: request -> SENT`,
  };
}

async function revocationDuringRedisOutage(): Promise<Row> {
  const db = await scratchDatabase();
  const redis = await startOwnRedis();
  try {
    return await revokeWhileRedisIsAway(db.url, redis);
  } finally {
    await redis.stop(); // also when a step failed: never leave a redis-server behind
    await db.drop();
  }
}

async function revokeWhileRedisIsAway(databaseUrl: string, redis: OwnRedis): Promise<Row> {
  const env = { DATABASE_URL: databaseUrl, REDIS_URL: redis.url };
  const a = await service(env);
  const b = await service(env);
  const errors: Record<string, number> = {};
  let answered = 0;
  const note = (r: { status: number; body: any }) => (r.status === 200 && !r.body.errors ? answered++ : count(errors, String(r.status)));
  const reg = await gql(a.url, 'mutation { register(input: { email: "outage@example.com", password: "correct horse battery" }) { token session { id } } }');
  note(reg);
  const sockets = [];
  const sessionIds: string[] = [];
  for (let i = 0; i < 5; i++) {
    const login = await gql(a.url, 'mutation { login(input: { email: "outage@example.com", password: "correct horse battery" }) { token session { id } } }');
    note(login);
    sessionIds.push(login.body.data.login.session.id);
    const ws = connectWs(a.url, { token: login.body.data.login.token });
    ws.client.subscribe({ query: 'subscription { sessionRevoked { sessionId } }' }, { next: () => {}, error: () => {}, complete: () => {} });
    sockets.push(ws);
  }
  await sleep(500);
  await redis.kill();
  await sleep(300);
  for (const id of sessionIds) note(await gql(b.url, 'mutation($id: ID!) { revokeSession(id: $id) }', { id }, reg.body.data.register.token));
  await b.proc.stop(); // its pending publishes go with it
  await sleep(1000);
  await redis.restart();
  const back = performance.now();
  const closeMs = await Promise.all(sockets.map((ws) => Promise.race([ws.closed.then(() => performance.now() - back), sleep(35_000).then(() => Infinity)])));
  await a.proc.stop();
  return {
    scenario: 'revoked during a Redis outage (5 WebSockets)',
    answered,
    errors,
    worstMs: Math.max(...closeMs),
    note: `closed ${closeMs.filter(Number.isFinite).length}/5; latency: Redis back -> socket closed`,
  };
}

const rows: Row[] = [];
for (const scenario of [sigtermUnderLoad, workerKilledMidSend, lateProvider, revocationDuringRedisOutage]) {
  try {
    rows.push(await scenario());
  } catch (err) {
    rows.push({ scenario: scenario.name, answered: 0, errors: { bench: 1 }, worstMs: Number.NaN, note: `failed: ${(err as Error).message.split('\n')[0]}` });
  }
}
console.log('| scenario | answered | errors by code | mails expected/delivered/doubled | worst latency | notes |');
console.log('|---|---|---|---|---|---|');
for (const r of rows) {
  const errors =
    Object.entries(r.errors)
      .map(([k, v]) => `${k}: ${v}`)
      .join(', ') || 'none';
  const mails = r.mails ? `${r.mails.expected}/${r.mails.delivered}/${r.mails.doubled}` : '-';
  console.log(`| ${r.scenario} | ${r.answered} | ${errors} | ${mails} | ${Math.round(r.worstMs)} ms | ${r.note} |`);
}
process.exit(0);
