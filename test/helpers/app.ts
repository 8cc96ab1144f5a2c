import { Writable } from 'node:stream';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { RegisterDocument } from '../../operations/generated/graphql.ts';
import { createApp, type App } from '../../src/app.ts';
import { loadConfig, type Config } from '../../src/config/env.ts';
import { FakeClock } from './clock.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';

// Starts a real app on a free loopback port against a fresh database. Logs are captured; every
// secret the test sends or receives (passwords, tokens, codes) is remembered, and `close()` fails
// the test when any of them, or any password hash, reached a log line.

export interface GqlResult<T = any> {
  status: number;
  headers: Headers;
  body: { data?: T; errors?: Array<{ message: string; path?: string[]; extensions: Record<string, any> }> };
}

/** The `extensions.code` of an answer's first error (undefined when it has none). */
export const codeOf = (r: GqlResult): string | undefined => r.body.errors?.[0]?.extensions?.code;

export interface GqlOptions {
  token?: string;
  headers?: Record<string, string>;
}

const printed = new WeakMap<object, string>();
const textOf = (document: TypedDocumentNode<unknown, never>) => {
  let text = printed.get(document);
  if (text === undefined) printed.set(document, (text = print(document)));
  return text;
};

export interface TestApp {
  url: string;
  app: App;
  db: TestDatabase;
  clock: FakeClock;
  config: Config;
  logs: string[];
  gql<T = any>(query: string, variables?: Record<string, unknown>, options?: GqlOptions): Promise<GqlResult<T>>;
  /** One of the typed documents of operations/ (what frontends copy): its variables and result are checked by TypeScript. */
  op<T, V extends Record<string, unknown>>(document: TypedDocumentNode<T, V>, variables?: V, options?: GqlOptions): Promise<GqlResult<T>>;
  /** Registers a user with a password and returns its token and ids. */
  register(email: string, password?: string): Promise<{ token: string; userId: string; sessionId: string }>;
  rememberSecret(value: string): void;
  leakedSecrets(): string[];
  close(): Promise<void>;
}

export interface TestAppOptions {
  env?: Record<string, string>;
  /** Adjusts the parsed config (policies that have no environment variable). */
  configure?: (config: Config) => Config;
  clock?: FakeClock;
  db?: TestDatabase;
  /** Listen on this port instead of a free one (a redirect URI registered before the app starts). */
  port?: number;
}

/**
 * Tests of other features sign in far more often than a person would from one address; limits
 * are tested on their own (test/security/) with their defaults or with RATE_LIMITS set.
 */
export const relaxedRateLimits = 'register=10000/1h:IP;login=10000/15m:IP+EMAIL,10000/15m:IP';

/**
 * Whether `secret` is in `line`. A short all-digit secret (an email code) counts only as a whole
 * token, not as six digits that happen to sit inside a UUID or a timestamp.
 */
function appearsIn(line: string, secret: string): boolean {
  if (!/^\d{1,8}$/.test(secret)) return line.includes(secret);
  return new RegExp(`(?<![0-9A-Za-z])${secret}(?![0-9A-Za-z])`).test(line);
}

const SECRET_KEYS = new Set(['password', 'currentPassword', 'newPassword', 'token', 'code']);

/** Fast argon2 parameters for tests that do not measure hashing; the defaults are tested on their own. */
export const fastHashing = (config: Config): Config => ({
  ...config,
  password: { ...config.password, argon2: { memoryCost: 1024, timeCost: 1, parallelism: 1 } },
});

/** A fixed key, so test apps seal and open secrets without a key file under .data/. */
export const TEST_ENCRYPTION_KEY = Buffer.alloc(32, 7).toString('base64');

export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const db = options.db ?? (await createTestDatabase());
  const clock = options.clock ?? new FakeClock();
  const base = loadConfig({
    LOG_LEVEL: 'debug',
    HOST: '127.0.0.1',
    RATE_LIMITS: relaxedRateLimits,
    ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
    ...options.env,
  });
  const config = (options.configure ?? fastHashing)({ ...base });
  const logs: string[] = [];
  const secrets = new Set<string>();
  const destination = new Writable({
    write(chunk, _enc, done) {
      logs.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  const app = createApp({ config, databaseUrl: db.url, clock, logDestination: destination });
  const url = await app.listen(options.port ?? 0, '127.0.0.1');

  const remember = (value: unknown, key?: string): void => {
    if (typeof value === 'string' && key && SECRET_KEYS.has(key) && value.length >= 6) secrets.add(value);
    else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) remember(v, k);
  };

  const gql: TestApp['gql'] = async (query, variables, opts = {}) => {
    remember(variables);
    const headers: Record<string, string> = { 'content-type': 'application/json', ...opts.headers };
    if (opts.token) {
      secrets.add(opts.token);
      headers.authorization = `Bearer ${opts.token}`;
    }
    const response = await fetch(`${url}/graphql`, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
    const body = (await response.json()) as GqlResult['body'];
    remember(body.data);
    return { status: response.status, headers: response.headers, body };
  };

  const op: TestApp['op'] = (document, variables, opts) => gql(textOf(document as TypedDocumentNode<unknown, never>), variables, opts);

  const leakedSecrets = () => {
    const found: string[] = [];
    for (const line of logs) {
      if (line.includes('$argon2')) found.push('a password hash');
      for (const s of secrets) if (appearsIn(line, s)) found.push(`a secret of ${s.length} characters`);
    }
    return found;
  };

  return {
    url,
    app,
    db,
    clock,
    config,
    logs,
    gql,
    op,
    async register(email, password = 'correct horse battery') {
      const r = await op(RegisterDocument, { input: { email, password } });
      if (!r.body.data?.register) throw new Error(`register failed: ${JSON.stringify(r.body.errors)}`);
      const { token, user, session } = r.body.data.register;
      return { token, userId: user.id, sessionId: session.id };
    },
    rememberSecret: (value) => secrets.add(value),
    leakedSecrets,
    async close() {
      await app.close();
      if (!options.db) await db.drop();
      const leaked = leakedSecrets();
      if (leaked.length) throw new Error(`secrets reached the logs: ${[...new Set(leaked)].join(', ')}`);
    },
  };
}
