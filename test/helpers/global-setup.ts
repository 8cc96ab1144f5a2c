import pg from 'pg';
import { adminDatabaseUrl } from './database.ts';

// Databases left behind by an interrupted run are dropped before the next one starts.
export default async function setup() {
  const client = new pg.Client({ connectionString: adminDatabaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE datname LIKE 'portcullis\\_test\\_%'",
    );
    for (const { datname } of rows) await client.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}
