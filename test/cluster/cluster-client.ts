import { randomUUID } from 'node:crypto';
import { startCluster, type Cluster } from '../../scripts/cluster.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { PASSWORD } from '../helpers/realtime.ts';
import { eventually } from '../helpers/eventually.ts';

// What the cluster tests share: a cluster on a database of its own with a Redis prefix of its own,
// and a GraphQL client that records the HTTP status of every answer (a refused connection is an
// answer too: status 0), since these tests count answers, not just successes.

export interface Answer<T = any> {
  status: number;
  body: { data?: T; errors?: Array<{ message: string; extensions?: { code?: string } }> };
}

export async function gql<T = any>(url: string, query: string, variables: Record<string, unknown> = {}, token?: string): Promise<Answer<T>> {
  try {
    const r = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
      body: JSON.stringify({ query, variables }),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await r.text();
    try {
      return { status: r.status, body: JSON.parse(text) as Answer<T>['body'] };
    } catch {
      return { status: r.status, body: { errors: [{ message: text.slice(0, 200) }] } }; // HAProxy's own error pages
    }
  } catch (err) {
    const cause = (err as Error & { cause?: Error }).cause;
    return { status: 0, body: { errors: [{ message: `${(err as Error).message}${cause ? `: ${cause.message}` : ''}` }] } };
  }
}

export async function register(url: string, email: string, password: string | null = PASSWORD) {
  const r = await gql(url, `mutation($input: RegisterInput!) { register(input: $input) { token user { id } session { id } } }`, {
    input: password ? { email, password } : { email },
  });
  if (!r.body.data?.register) throw new Error(`register failed: ${JSON.stringify(r.body.errors)}`);
  const { token, user, session } = r.body.data.register;
  return { token: token as string, userId: user.id as string, sessionId: session.id as string };
}

export async function login(url: string, email: string, password = PASSWORD) {
  const r = await gql(url, `mutation($input: LoginInput!) { login(input: $input) { token session { id } } }`, { input: { email, password } });
  if (!r.body.data?.login) throw new Error(`login failed: ${JSON.stringify(r.body.errors)}`);
  return { token: r.body.data.login.token as string, sessionId: r.body.data.login.session.id as string };
}

/**
 * Waits until subscribers are live without a fixed sleep: signs in and out throwaway sessions of
 * `email` until every `ready` check has seen one of their revocations.
 */
export async function untilSubscribed(url: string, email: string, ready: Array<(sessionIds: string[]) => boolean>) {
  const ids: string[] = [];
  await eventually(
    async () => {
      const s = await login(url, email);
      ids.push(s.sessionId);
      await gql(url, `mutation { logout }`, {}, s.token);
      await new Promise((r) => setTimeout(r, 50));
      return ready.every((isReady) => isReady(ids));
    },
    'the subscriptions to be live',
    10_000,
  );
}

export interface TestCluster extends Cluster {
  db: TestDatabase;
  close(): Promise<void>;
}

/** Three instances (unless told otherwise) behind HAProxy, on a fresh database. */
export async function startTestCluster(options: { instances?: number; env?: Record<string, string> } = {}): Promise<TestCluster> {
  const db = await createTestDatabase();
  const cluster = await startCluster({
    instances: options.instances ?? 3,
    databaseUrl: db.url,
    redisPrefix: `test:cluster:${randomUUID()}:`,
    env: options.env,
  }).catch(async (err) => {
    await db.drop();
    throw err;
  });
  return Object.assign(cluster, {
    db,
    async close() {
      await cluster.stop();
      await db.drop();
    },
  });
}
