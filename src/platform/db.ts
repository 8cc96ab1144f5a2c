import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from '../generated/prisma/client.ts';

export type Db = InstanceType<typeof PrismaClient>;
/** The client handed to a `$transaction` callback. */
export type Tx = Parameters<Parameters<Db['$transaction']>[0]>[0];

/** The pg pool behind each client: the hot path runs named prepared statements on it directly. */
const pools = new WeakMap<Db, pg.Pool>();

export function createDb(databaseUrl: string, maxConnections = 10): Db {
  // A database that stops answering fails requests after 5 s instead of holding them forever.
  const pool = new pg.Pool({ connectionString: databaseUrl, max: maxConnections, connectionTimeoutMillis: 5000 });
  // An idle connection that drops emits 'error' on the pool; unheard, it would end the process
  // (Prisma adds its own listener only once it has connected). The pool replaces the connection.
  pool.on('error', () => {});
  const db = new PrismaClient({ adapter: new PrismaPg(pool, { disposeExternalPool: true }) });
  pools.set(db, pool);
  return db;
}

/** The pool shared with Prisma (one set of connections); undefined for a client made elsewhere. */
export function pgPoolOf(db: Db): pg.Pool | undefined {
  return pools.get(db);
}

export async function pingDb(db: Db): Promise<void> {
  await db.$queryRawUnsafe('SELECT 1');
}
