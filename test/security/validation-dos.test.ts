import { randomUUID } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createClient } from 'graphql-sse';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { connectWs } from '../../scripts/ws-connection.ts';

// Checklist item 46: validation is linear in the document. A ~1 KB anonymous document whose
// fragments each spread the previous one twice used to make the custom rules walk 2^N selections
// (N=22 blocked the event loop for 10 s). Here N=22, 44 and 88 are refused as fast as each other,
// over HTTP, WebSocket and SSE (both modes), in production too, `/health` answers within 200 ms
// while such documents keep coming, and nothing behind validation runs.

type Result = { data?: unknown; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> };
type Transport = (app: TestApp, query: string) => Promise<Result>;

let dev: TestApp;
let prod: TestApp;
beforeAll(async () => {
  dev = await startTestApp();
  prod = await startTestApp({ env: { NODE_ENV: 'production' } });
});
afterEach(() => vi.restoreAllMocks());
afterAll(async () => {
  await dev?.close();
  await prod?.close();
});

/**
 * `fragment F<k> { ...F<k-1> ...F<k-1> }` up to N, spread once: 2^N leaves to an exponential
 * walk. A fresh comment each time, so that no parse or validation cache answers.
 */
function doubling(n: number, { leaf = 'me { id }', type = 'Query', operation = '' } = {}): string {
  const fragments = [`fragment F0 on ${type} { ${leaf} }`];
  for (let k = 1; k <= n; k++) fragments.push(`fragment F${k} on ${type} { ...F${k - 1} ...F${k - 1} }`);
  return `${operation} { ...F${n} } ${fragments.join(' ')} # ${randomUUID()}`;
}

const overHttp: Transport = async (app, query) => {
  const response = await fetch(`${app.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
    body: JSON.stringify({ query }),
  });
  return (await response.json()) as Result;
};

const overWebSocket: Transport = async (app, query) => {
  const ws = connectWs(app.url);
  try {
    return await ws.request(query);
  } finally {
    await ws.dispose();
  }
};

/** SSE, distinct connections: one POST, one stream with a single `next` event. */
const overSse: Transport = async (app, query) => {
  const response = await fetch(`${app.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ query }),
  });
  const events = [...(await response.text()).matchAll(/^event: next\ndata: (.*)$/gm)];
  expect(events).toHaveLength(1);
  return JSON.parse(events[0]![1]!) as Result;
};

/** SSE, single connection, with the real graphql-sse client: the refusal is the client's error. */
const overSingleConnectionSse: Transport = async (app, query) => {
  const client = createClient({ url: `${app.url}/graphql`, singleConnection: true, retryAttempts: 0 });
  try {
    return await new Promise<Result>((resolve) => {
      let result: Result = {};
      client.subscribe(
        { query },
        {
          next: (value) => void (result = value as Result),
          error: (err) => resolve({ errors: [{ message: err instanceof Error ? err.message : JSON.stringify(err) }] }),
          complete: () => resolve(result),
        },
      );
    });
  } finally {
    client.dispose();
  }
};

const transports: Array<[string, Transport]> = [
  ['HTTP', overHttp],
  ['WebSocket', overWebSocket],
  ['SSE', overSse],
  ['single-connection SSE', overSingleConnectionSse],
];

async function timed<T>(work: () => Promise<T>): Promise<{ result: T; ms: number }> {
  const started = performance.now();
  const result = await work();
  return { result, ms: performance.now() - started };
}

/** Every way a document could reach a resolver, a hash or the database. */
function watchServices(app: TestApp) {
  const { hasher, sessions, password, registration } = app.app.services;
  return [
    vi.spyOn(registration, 'register'),
    vi.spyOn(hasher, 'hash'),
    vi.spyOn(hasher, 'verify'),
    vi.spyOn(password, 'login'),
    vi.spyOn(sessions, 'listLive'),
    vi.spyOn(sessions, 'authenticate'),
  ];
}
const rows = async (app: TestApp) =>
  (await app.db.query<{ n: number }>('SELECT (SELECT count(*) FROM "User") + (SELECT count(*) FROM "AuditEvent") AS n'))[0]!.n;

const TOO_EXPENSIVE = 'Query is too expensive (cost at least 8192; at most 5000)';

/**
 * One client sends N=95 documents back to back for `ms` while `/health` is asked all along:
 * the slowest `/health` answer, the event loop's worst delay, and the CPU time per attack.
 */
async function healthWhileAttacked(app: TestApp, send: Transport, ms = 1000) {
  let running = true;
  let attacks = 0;
  const cpu = process.cpuUsage();
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const attacker = (async () => {
    while (running) {
      const result = await send(app, doubling(95));
      expect(JSON.stringify(result.errors)).toMatch(/too expensive/);
      attacks++;
    }
  })();
  const health: number[] = [];
  for (const until = performance.now() + ms; performance.now() < until; ) {
    const { result, ms: took } = await timed(() => fetch(`${app.url}/health`));
    expect(result.status).toBe(200);
    health.push(took);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  running = false;
  await attacker;
  delay.disable();
  const used = process.cpuUsage(cpu);
  return { worstHealth: Math.max(...health), worstDelay: delay.max / 1e6, attacks, cpuPerAttack: (used.user + used.system) / 1000 / attacks };
}

describe('validation takes time linear in the document', () => {
  for (const [name, send] of transports) {
    it(`46. ${name}: fragments spread twice at every level -> refused in milliseconds for N=22, 44, 88; nothing runs`, async () => {
      const spies = watchServices(dev);
      const before = await rows(dev);
      await send(dev, doubling(5)); // warm-up: connections, JIT
      const runs: Record<number, number[]> = { 22: [], 44: [], 88: [] };
      for (let round = 0; round < 3; round++) {
        for (const n of [22, 44, 88]) {
          const { result, ms } = await timed(() => send(dev, doubling(n)));
          expect(result.data ?? undefined).toBeUndefined();
          expect(result.errors?.length).toBeGreaterThanOrEqual(1);
          if (!name.startsWith('single')) expect(result.errors![0]).toMatchObject({ message: TOO_EXPENSIVE, extensions: { code: 'BAD_USER_INPUT' } });
          // graphql-sse's client only sees the status of a refused single-connection operation.
          else expect(result.errors![0]!.message).toBe('Server responded with 400: Bad Request');
          runs[n]!.push(ms);
        }
      }
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[1]!;
      // An exponential walk took 10 s at N=22 and would never end at N=88.
      for (const n of [22, 44, 88]) expect(median(runs[n]!), `N=${n}`).toBeLessThan(1000);
      expect(median(runs[88]!)).toBeLessThan(2 * median(runs[22]!) + 100);
      for (const spy of spies) expect(spy).not.toHaveBeenCalled();
      expect(await rows(dev)).toBe(before);
    });
  }

  // Timings on a shared machine: a retry absorbs a load spike; an exponential walk fails every try.
  it('46. /health answers within 200 ms while N=95 documents keep coming, over HTTP and WebSocket', { retry: 2 }, async () => {
    await healthWhileAttacked(dev, overHttp, 200); // warm-up
    for (const [name, send] of [
      ['HTTP', overHttp],
      ['WebSocket', overWebSocket],
    ] as const) {
      const { worstHealth, worstDelay, attacks, cpuPerAttack } = await healthWhileAttacked(dev, send);
      expect(attacks, name).toBeGreaterThan(5);
      expect(worstHealth, name).toBeLessThan(200);
      expect(worstDelay, name).toBeLessThan(200);
      // CPU time is what the process itself spent, whatever else loads the machine: client included.
      expect(cpuPerAttack, name).toBeLessThan(50);
    }
  });

  it('46. production (NODE_ENV=production): the same documents are refused as fast on every transport, and a mutation too', { retry: 2 }, async () => {
    expect(prod.config.production).toBe(true);
    const spies = watchServices(prod);
    const before = await rows(prod);
    const login = 'login(input: { email: "victim@example.com", password: "guess one" }) { token }';
    for (const [name, send] of transports) {
      for (const query of [doubling(88), doubling(88, { leaf: login, type: 'Mutation', operation: 'mutation' })]) {
        const { result, ms } = await timed(() => send(prod, query));
        expect(result.errors?.length, name).toBeGreaterThanOrEqual(1);
        if (!name.startsWith('single')) expect(result.errors![0]!.message, name).toBe(TOO_EXPENSIVE);
        expect(ms, name).toBeLessThan(1000);
      }
    }
    const { worstHealth } = await healthWhileAttacked(prod, overHttp);
    expect(worstHealth).toBeLessThan(200);
    for (const spy of spies) expect(spy).not.toHaveBeenCalled();
    expect(await rows(prod)).toBe(before);
  });

  it('46. variants: aliases, deep inline fragments, many fragments spread many times, cycles, spreads at many levels', async () => {
    const spies = watchServices(dev);
    const fragments = Array.from({ length: 40 }, (_, i) => `fragment G${i} on Query { me { id } }`);
    const variants: Array<[string, string, RegExp]> = [
      ['aliases', doubling(90, { leaf: 'a: me { id }' }), /Too many aliases \(at least 16; at most 15\)/],
      ['inline', `{ ${'... on Query { '.repeat(190)}me { id }${' }'.repeat(190)} }`, /^$/],
      ['many spreads', `{ ${Array.from({ length: 200 }, (_, i) => `...G${i % 40}`).join(' ')} } ${fragments.join(' ')}`, /^$/],
      ['ring', `{ ...C0 } ${Array.from({ length: 90 }, (_, i) => `fragment C${i} on Query { ...C${(i + 1) % 90} }`).join(' ')}`, /within itself/],
      [
        'dense cycle',
        `{ ...C0 } ${Array.from({ length: 60 }, (_, i) => `fragment C${i} on Query { ...C${(i + 1) % 60} ...C${(i + 7) % 60} me { id } }`).join(' ')}`,
        /too expensive/,
      ],
      [
        'levels',
        `{ adminUser(id: "x") { ...L40 } } fragment L0 on AdminUser { user { id } } ${Array.from({ length: 40 }, (_, i) => `fragment L${i + 1} on AdminUser { ...L${i} user { ...U } ...L${i} }`).join(' ')} fragment U on User { id }`,
        /too expensive/,
      ],
    ];
    for (const [name, query, expected] of variants) {
      const { result, ms } = await timed(() => overHttp(dev, `${query} # ${randomUUID()}`));
      expect(ms, name).toBeLessThan(1000);
      expect((result.errors ?? []).map((e) => e.message).join('\n'), name).toMatch(expected);
    }
    // The documents that passed ran `me` anonymously, nothing more.
    for (const spy of spies.filter((s) => s.getMockName() !== 'authenticate')) expect(spy).not.toHaveBeenCalled();
  });
});
