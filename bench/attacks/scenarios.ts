import { randomBytes } from 'node:crypto';
import { count, inParallel, openSocket, operate, pause, postGraphQL, send, timeLeft, type AttackContext, type Socket } from './traffic.ts';

// The attacks of issue 11, as a client would send them. Each tallies what it sent and what came
// back; the bench measures the server meanwhile. Bounded in count and by the context's deadline.

export interface Attack {
  name: string;
  run(ctx: AttackContext): Promise<void>;
}

const LOGIN_LEAF = 'login(input: { email: "nobody@example.com", password: "wrong password" }) { token }';

/** `{ ...Fn }` where F0 holds `leaf` and every Fk spreads F(k-1) twice: 2^n selections once expanded. */
export function exponentialFragments(n: number, operation: 'query' | 'mutation', leaf: string): string {
  const type = operation === 'query' ? 'Query' : 'Mutation';
  const fragments = [`fragment F0 on ${type} { ${leaf} }`];
  for (let k = 1; k <= n; k++) fragments.push(`fragment F${k} on ${type} { ...F${k - 1} ...F${k - 1} }`);
  return `${operation} { ...F${n} }\n${fragments.join('\n')}`;
}

const fragmentsOverHttp = (n: number): Attack => ({
  name: `fragments N=${n}, HTTP`,
  run: async (ctx) => void (await postGraphQL(ctx, { query: exponentialFragments(n, 'query', 'me { id }') })),
});

/** A login whose input is a string, not an object: GraphQL's coercion message quotes it whole. */
const oversizedVariable = (name: string, input: string): Attack => ({
  name,
  async run(ctx) {
    const answer = await postGraphQL(ctx, { query: 'mutation($input: LoginInput!) { login(input: $input) { token } }', variables: { input } });
    if (answer) ctx.tally.note = `answer of ${Buffer.byteLength(answer.text)} bytes`;
  },
});

/** Unique per run and request: no account exists, no per-address counter carries over. */
const freshEmail = (label: string, i: number) => `${label}-${i}-${randomBytes(4).toString('hex')}@example.com`;

async function subscriptionsOnOneSocket(ctx: AttackContext) {
  const socket = openSocket(ctx, ctx.token);
  ctx.onRelease(() => socket.client.dispose());
  if (!(await socket.connected)) return void count(ctx.tally, `${socket.closed() ?? 'no ack'} before ack`);
  const total = 2000;
  let answered = 0;
  for (let i = 0; i < total && timeLeft(ctx) > 0; i++) {
    void operate(ctx, socket, 'subscription { sessionRevoked { sessionId } }').then(() => answered++);
    if (i % 100 === 99) await pause(0);
  }
  // Subscriptions that are accepted answer nothing: a query sent after them, then a quiet spell,
  // tells when the server has worked through them.
  await Promise.race([operate(ctx, socket, '{ me { id } }'), pause(timeLeft(ctx))]);
  for (let seen = -1; seen !== answered && timeLeft(ctx) > 0; ) {
    seen = answered;
    await pause(Math.min(500, timeLeft(ctx)));
  }
  const live = ctx.tally.sent - 1 - answered;
  if (live > 0) count(ctx.tally, 'live (no answer)', live);
}

async function socketsFromOneAddress(ctx: AttackContext) {
  const sockets: Socket[] = [];
  ctx.onRelease(() => Promise.all(sockets.map((s) => s.client.dispose())).then(() => {}));
  for (let i = 0; i < 200 && timeLeft(ctx) > 0; i++) {
    const socket = openSocket(ctx, ctx.token);
    ctx.tally.sent++;
    sockets.push(socket);
    void socket.connected.then((ok) => count(ctx.tally, ok ? 'acknowledged' : (socket.closed() ?? 'no ack')));
    if (i % 20 === 19) await pause(0);
  }
  await Promise.all(sockets.map((s) => s.connected));
}

export const attacks: Attack[] = [
  fragmentsOverHttp(22),
  fragmentsOverHttp(40),
  {
    name: 'fragments N=22, WebSocket',
    async run(ctx) {
      const socket = openSocket(ctx);
      ctx.onRelease(() => socket.client.dispose());
      if (!(await socket.connected)) return void count(ctx.tally, `${socket.closed() ?? 'no ack'} before ack`);
      await Promise.race([operate(ctx, socket, exponentialFragments(22, 'query', 'me { id }')), pause(timeLeft(ctx))]);
    },
  },
  {
    name: 'fragments N=22, SSE',
    run: async (ctx) => void (await postGraphQL(ctx, { query: exponentialFragments(22, 'query', 'me { id }') }, { accept: 'text/event-stream' })),
  },
  {
    name: 'fragments N=22, login mutation',
    run: async (ctx) => void (await postGraphQL(ctx, { query: exponentialFragments(22, 'mutation', LOGIN_LEAF) })),
  },
  oversizedVariable('90 KB of spaces in a variable', `${' '.repeat(90 * 1024)}x`),
  oversizedVariable('"Did you mean " x7000 in a variable', 'Did you mean '.repeat(7000)),
  {
    name: '1,000 operation names, 1 scrape',
    async run(ctx) {
      const salt = randomBytes(3).toString('hex');
      await inParallel(ctx, 1000, 8, (i) => postGraphQL(ctx, { query: `query Probe_${salt}_${i} { me { id } }` }));
      const started = performance.now();
      const scrape = await send(ctx, '/metrics', { headers: { authorization: `Bearer ${ctx.metricsToken}` } });
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      ctx.tally.note = scrape ? `scrape ${scrape.status}: ${seconds} s, ${Buffer.byteLength(scrape.text)} bytes` : `scrape unanswered after ${seconds} s`;
    },
  },
  {
    name: '1,000 SSE reservations (PUT)',
    run: (ctx) => inParallel(ctx, 1000, 8, () => send(ctx, '/graphql', { method: 'PUT' })),
  },
  { name: '2,000 subscriptions, one socket', run: subscriptionsOnOneSocket },
  { name: '200 sockets, one address', run: socketsFromOneAddress },
  {
    name: '200 registers, NUL in name',
    run: (ctx) =>
      inParallel(ctx, 200, 8, (i) =>
        postGraphQL(ctx, {
          query: 'mutation($input: RegisterInput!) { register(input: $input) { token } }',
          variables: { input: { email: freshEmail('nul', i), name: 'Null\u0000Byte', password: 'correct horse battery' } },
        }),
      ),
  },
  {
    name: '200 form-encoded logins',
    run: (ctx) =>
      inParallel(ctx, 200, 8, (i) => {
        const query = `mutation { login(input: { email: "${freshEmail('form', i)}", password: "wrong password" }) { token } }`;
        return postGraphQL(ctx, `query=${encodeURIComponent(query)}`, { 'content-type': 'application/x-www-form-urlencoded' });
      }),
  },
];
