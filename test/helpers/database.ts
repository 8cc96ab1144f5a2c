import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { applyMigrations } from '../../src/platform/migrate.ts';

// Every test file gets a database of its own on the machine's PostgreSQL, created here and dropped
// when the file is done, so files run in parallel without seeing each other's rows.

export const adminDatabaseUrl = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  name: string;
  url: string;
  query<T = any>(sql: string, params?: unknown[]): Promise<T[]>;
  drop(): Promise<void>;
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminDatabaseUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export function databaseUrlFor(name: string): string {
  const url = new URL(adminDatabaseUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function createTestDatabase({ migrate = true } = {}): Promise<TestDatabase> {
  // The creation time in the name lets a later run tell leftovers from databases still in use.
  const name = `portcullis_test_${Math.floor(Date.now() / 1000)}_${randomBytes(4).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = databaseUrlFor(name);
  if (migrate) await applyMigrations(url);
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  // DROP … WITH (FORCE) may end idle connections that pool.end() has not closed yet.
  pool.on('error', () => {});
  return {
    name,
    url,
    query: async <T>(sql: string, params?: unknown[]) => (await pool.query(sql, params)).rows as T[],
    async drop() {
      await pool.end();
      await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}
