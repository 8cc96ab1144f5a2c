import { createHash } from 'node:crypto';
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { applyMigrations, readMigrations } from '../../src/platform/migrate.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';

const databases: TestDatabase[] = [];
afterEach(async () => {
  await Promise.all(databases.splice(0).map((d) => d.drop()));
});

async function emptyDatabase() {
  const db = await createTestDatabase({ migrate: false });
  databases.push(db);
  return db;
}

async function migrationsDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-migrations-'));
  for (const [name, sql] of Object.entries(files)) {
    await mkdir(join(dir, name));
    await writeFile(join(dir, name, 'migration.sql'), sql);
  }
  return dir;
}

it('applies every migration once and records it in _prisma_migrations as Prisma does', async () => {
  const db = await emptyDatabase();
  const migrations = await readMigrations();
  expect(await applyMigrations(db.url)).toEqual(migrations.map((m) => m.name));
  const rows = await db.query(
    'SELECT migration_name, checksum, finished_at, applied_steps_count, rolled_back_at FROM "_prisma_migrations" ORDER BY migration_name',
  );
  expect(rows).toHaveLength(migrations.length);
  for (const [i, m] of migrations.entries()) {
    expect(rows[i]).toMatchObject({ migration_name: m.name, applied_steps_count: 1, rolled_back_at: null });
    expect(rows[i]!.checksum).toBe(createHash('sha256').update(m.sql).digest('hex'));
    expect(rows[i]!.finished_at).toBeInstanceOf(Date);
  }
  expect(await applyMigrations(db.url)).toEqual([]);
});

it('lets concurrent starts apply each migration exactly once', async () => {
  const db = await emptyDatabase();
  const results = await Promise.all([applyMigrations(db.url), applyMigrations(db.url), applyMigrations(db.url)]);
  expect(results.flat()).toEqual((await readMigrations()).map((m) => m.name));
  const [{ n }] = await db.query('SELECT count(*)::int AS n FROM "_prisma_migrations"');
  expect(n).toBe((await readMigrations()).length);
});

it('rolls a failing migration back whole and records nothing for it', async () => {
  const db = await emptyDatabase();
  const dir = await migrationsDir({
    '001_ok': 'CREATE TABLE a (id int);',
    '002_broken': 'CREATE TABLE b (id int); SELECT no_such_function();',
  });
  await expect(applyMigrations(db.url, undefined, dir)).rejects.toThrow(/002_broken failed/);
  const tables = await db.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name IN ('a', 'b')`);
  expect(tables.map((t) => t.table_name)).toEqual(['a']);
  const recorded = await db.query('SELECT migration_name FROM "_prisma_migrations"');
  expect(recorded.map((r) => r.migration_name)).toEqual(['001_ok']);
});

it('applies only the migrations added since the last start, in name order', async () => {
  const db = await emptyDatabase();
  const first = await migrationsDir({ '001_a': 'CREATE TABLE a (id int);' });
  expect(await applyMigrations(db.url, undefined, first)).toEqual(['001_a']);
  const second = await migrationsDir({
    '001_a': 'CREATE TABLE a (id int);',
    '003_c': 'ALTER TABLE b ADD COLUMN c int;',
    '002_b': 'CREATE TABLE b (id int);',
  });
  expect(await applyMigrations(db.url, undefined, second)).toEqual(['002_b', '003_c']);
});
