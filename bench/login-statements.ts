// SQL statements per password sign-in (npm run bench:login-statements): the service runs in this
// process against a scratch database, every statement any pg client sends is recorded, and those
// of one warm login are counted and listed. DESIGN.md's budget for a sign-in is a couple.
import pg from 'pg';
import { createApp } from '../src/app.ts';
import { loadConfig } from '../src/config/env.ts';
import { scratchDatabase } from './lib.ts';

const sent: string[] = [];
let recording = false;
const query = pg.Client.prototype.query;
pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
  if (recording) {
    const first = args[0] as string | { text?: string; name?: string };
    const text = typeof first === 'string' ? first : (first.text ?? `(prepared ${first.name})`);
    sent.push(text.replace(/\s+/g, ' ').trim());
  }
  return (query as (...a: unknown[]) => unknown).apply(this, args);
} as typeof query;

const db = await scratchDatabase();
const config = loadConfig({ DATABASE_URL: db.url, RUN_WORKERS: 'false', LOG_LEVEL: 'warn', RATE_LIMITS: 'login=off;register=off' });
const app = createApp({ config, databaseUrl: db.url });
const url = await app.listen(0, '127.0.0.1');
const gql = async (query: string) =>
  (await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) })).json() as Promise<{
    errors?: unknown;
  }>;
try {
  const login = 'mutation { login(input: { email: "count@example.com", password: "count statements please" }) { token } }';
  await gql('mutation { register(input: { email: "count@example.com", password: "count statements please" }) { token } }');
  for (let i = 0; i < 3; i++) await gql(login); // warm: prepared statements, pools, the hashing threads
  recording = true;
  const answer = await gql(login);
  recording = false;
  if (answer.errors) throw new Error(`login failed: ${JSON.stringify(answer.errors)}`);
  for (const [i, text] of sent.entries()) console.log(`${String(i + 1).padStart(2)}. ${text.slice(0, 140)}`);
  console.log(`SQL statements per password login: ${sent.length}`);
} finally {
  await app.close();
  await db.drop();
}
