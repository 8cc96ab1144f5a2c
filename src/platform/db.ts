import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../generated/prisma/client.ts';

export type Db = InstanceType<typeof PrismaClient>;
/** The client handed to a `$transaction` callback. */
export type Tx = Parameters<Parameters<Db['$transaction']>[0]>[0];

export function createDb(databaseUrl: string, maxConnections = 10): Db {
  // A database that stops answering fails requests after 5 s instead of holding them forever.
  const adapter = new PrismaPg({ connectionString: databaseUrl, max: maxConnections, connectionTimeoutMillis: 5000 });
  return new PrismaClient({ adapter });
}

export async function pingDb(db: Db): Promise<void> {
  await db.$queryRawUnsafe('SELECT 1');
}
