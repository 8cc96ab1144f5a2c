// The five figures of DESIGN.md's performance targets in one run (npm run bench:perf; needs wrk):
// `{ me }` against a bare graphql-yoga `{ hello }` started beside it, password login against raw
// argon2id verifies measured beside it (same parameters, one per core), `{ me }` during a login
// storm against `{ me }` idle, the service's RSS idle and after a minute of mixed load and a GC,
// and RSS per idle WebSocket subscriber. BENCH_SECONDS (default 10) sets each measurement's length
// (the mixed load runs 6 times that, at most 60 s); BENCH_SOCKETS (default 5000) the socket count.
import { spawn } from 'node:child_process';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { LoginDocument, RegisterDocument } from '../operations/generated/graphql.ts';
import { freePort, scratchDatabase, seedUsers } from './lib.ts';
import { argon2Rate, openIdleSockets, seconds, sleep, startService, wrk } from './perf-lib.ts';

const mixedSeconds = Math.min(60, seconds * 6);
const socketCount = Number(process.env.BENCH_SOCKETS ?? 5000);
const PASSWORD = 'bench password for perf';
const MB = 1024 * 1024;
const env = (url: string) => ({ DATABASE_URL: url, RATE_LIMITS: 'register=off;login=off', TRUST_PROXY: '127.0.0.1' });
const rows: Array<[string, string, string, boolean]> = [];
const report = (figure: string, value: string, target: string, met: boolean) => {
  rows.push([figure, value, target, met]);
  console.log(`${met ? 'met    ' : 'NOT MET'}  ${figure}: ${value} (target ${target})`);
};

/** The request body of one of the typed documents of operations/, as a frontend sends it. */
const bodyOf = <T, V>(document: TypedDocumentNode<T, V>, variables: V) => JSON.stringify({ query: print(document), variables });

async function op<T, V>(url: string, document: TypedDocumentNode<T, V>, variables: V) {
  const r = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: bodyOf(document, variables) });
  return (await r.json()) as { data?: T; errors?: unknown };
}

const db = await scratchDatabase();
const helloPort = await freePort();
const hello = spawn(process.execPath, [new URL('./hello-yoga.ts', import.meta.url).pathname], {
  env: { ...process.env, PORT: String(helloPort) },
  stdio: ['ignore', 'pipe', 'inherit'],
});
await new Promise((resolve) => hello.stdout!.once('data', resolve));
let service = await startService(env(db.url));
try {
  await sleep(2000);
  await service.collect();
  const rssIdle = service.rssBytes();

  // Logins spread over 32 accounts: one address's sign-ins queue on its throttle row by design.
  const emails = Array.from({ length: 32 }, (_, i) => `perf${i}@example.com`);
  const tokens: string[] = [];
  for (const email of emails) {
    const registered = await op(service.url, RegisterDocument, { input: { email, password: PASSWORD } });
    tokens.push(registered.data!.register.token);
  }
  const token = tokens[0]!;
  const me = JSON.stringify({ query: '{ me { id email } }' });
  const login = emails.map((email) => bodyOf(LoginDocument, { input: { email, password: PASSWORD } }));
  const meUrl = `${service.url}/graphql`;
  const bearer = { authorization: `Bearer ${token}` };

  // 1. The session check against a bare GraphQL call.
  const helloRate = await wrk(`http://127.0.0.1:${helloPort}/graphql`, JSON.stringify({ query: '{ hello }' }), {});
  hello.kill();
  const meIdle = await wrk(meUrl, me, bearer);
  report(
    '{ me } / bare yoga { hello }',
    `${(meIdle / helloRate).toFixed(2)} (${meIdle.toFixed(0)} vs ${helloRate.toFixed(0)} req/s)`,
    '>= 0.70',
    meIdle / helloRate >= 0.7,
  );

  // 2. Password login against the hash it pays.
  const argon2 = await argon2Rate(PASSWORD);
  const logins = await wrk(meUrl, login, {}, 8);
  report('login / raw argon2 verify', `${(logins / argon2).toFixed(2)} (${logins.toFixed(1)} vs ${argon2.toFixed(1)} /s)`, '>= 0.90', logins / argon2 >= 0.9);

  // 3. The session check while a login storm saturates argon2: 10 clients checking sessions (not 50,
  // which would take the event loop from the logins), idle and then beside 16 clients logging in.
  const meQuiet = await wrk(meUrl, me, bearer, 10);
  const [meStorm, stormLogins] = await Promise.all([wrk(meUrl, me, bearer, 10), wrk(meUrl, login, {}, 16)]);
  const stormShare = `${stormLogins.toFixed(1)} logins/s, ${((100 * stormLogins) / argon2).toFixed(0)}% of argon2's rate`;
  report(
    '{ me } during a login storm / { me } idle',
    `${(meStorm / meQuiet).toFixed(2)} (${meStorm.toFixed(0)} vs ${meQuiet.toFixed(0)} req/s; ${stormShare})`,
    '>= 0.50',
    meStorm / meQuiet >= 0.5,
  );

  // 4. Memory: a minute of mixed load (sessions checked, logins), then a full GC.
  await Promise.all([wrk(meUrl, me, bearer, 20, mixedSeconds), wrk(meUrl, login, {}, 4, mixedSeconds)]);
  await service.collect();
  const rssLoaded = service.rssBytes();
  report(
    'RSS idle / after mixed load and a GC',
    `${(rssIdle / MB).toFixed(0)} / ${(rssLoaded / MB).toFixed(0)} MB (${mixedSeconds} s of load)`,
    '<= 120 / <= 150 MB',
    rssIdle <= 120 * MB && rssLoaded <= 150 * MB,
  );

  // 5. Idle WebSocket subscribers, on a fresh process.
  await service.stop();
  service = await startService(env(db.url));
  const users = await seedUsers(db.url, socketCount, 1);
  await sleep(1000);
  await service.collect();
  const before = service.rssBytes();
  const sockets = await openIdleSockets(
    service.url,
    users.map((u) => u.tokens[0]!),
  );
  await sleep(2000);
  await service.collect();
  const perSocket = (service.rssBytes() - before) / sockets.length;
  report(`RSS per idle WebSocket at ${sockets.length}`, `${(perSocket / 1024).toFixed(1)} KB`, '<= 40 KB', perSocket <= 40 * 1024);
  for (const socket of sockets) socket.terminate();

  console.log('\n| figure, one run | measured | target | |\n|---|---|---|---|');
  for (const [figure, value, target, met] of rows) console.log(`| ${figure} | ${value} | ${target} | ${met ? 'met' : 'not met'} |`);
} finally {
  hello.kill();
  await service.stop();
  await db.drop();
}
