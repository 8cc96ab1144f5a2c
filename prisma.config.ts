import { existsSync } from 'node:fs';
import { defineConfig } from 'prisma/config';

// The CLI wants a schema engine binary before every command, and its download host is out of reach
// here. `prisma generate` does not run it, so any existing file satisfies the check. Migrations are
// applied by our own runner (src/platform/migrate.ts), never by `prisma migrate`.
if (!process.env.PRISMA_SCHEMA_ENGINE_BINARY || !existsSync(process.env.PRISMA_SCHEMA_ENGINE_BINARY)) {
  process.env.PRISMA_SCHEMA_ENGINE_BINARY = process.execPath;
}

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/portcullis' },
});
