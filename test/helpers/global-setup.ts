import pg from 'pg';
import { adminDatabaseUrl } from './database.ts';

// Databases left behind by an interrupted run (older than an hour, so a run going on beside this
// one keeps its own) are dropped before the next run starts.
const MAX_AGE_SECONDS = 3600;
export default async function setup() {
  const client = new pg.Client({ connectionString: adminDatabaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE 'portcullis\\_test\\_%'");
    const now = Date.now() / 1000;
    for (const { datname } of rows) {
      const created = Number(datname.split('_')[2]);
      if (Number.isFinite(created) && now - created < MAX_AGE_SECONDS) continue;
      await client.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
    }
  } finally {
    await client.end();
  }
}
