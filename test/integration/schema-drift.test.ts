import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { getDatamodel } from '../../src/generated/pothos-types.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';

// The migrations are written by hand, so this test is what keeps them honest: the database they
// produce must have exactly the tables, columns, types, nullability, unique indexes and foreign
// keys that schema.prisma declares.

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.drop());

const schemaText = readFileSync(new URL('../../prisma/schema.prisma', import.meta.url), 'utf8');
const { models } = getDatamodel().datamodel;
const enumNames = new Set([...schemaText.matchAll(/^enum (\w+)/gm)].map((m) => m[1]));

/** The PostgreSQL type Prisma gives a field of the schema. */
function expectedType(model: string, field: { name: string; type: string }): string {
  const block = schemaText.match(new RegExp(`model ${model} \\{([\\s\\S]*?)\\n\\}`))![1]!;
  const line = block.split('\n').find((l) => l.trim().split(/\s+/)[0] === field.name) ?? '';
  if (line.includes('@db.Uuid')) return 'uuid';
  if (enumNames.has(field.type)) return field.type;
  const scalar: Record<string, string> = {
    String: 'text',
    Int: 'integer',
    BigInt: 'bigint',
    Boolean: 'boolean',
    DateTime: 'timestamp without time zone',
    Float: 'double precision',
    Json: 'jsonb',
    Bytes: 'bytea',
    Decimal: 'numeric',
  };
  return scalar[field.type] ?? `unknown ${field.type}`;
}

it('has every table of schema.prisma and no other', async () => {
  const rows = await db.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> '_prisma_migrations'`,
  );
  expect(rows.map((r) => r.table_name).sort()).toEqual(Object.keys(models).sort());
});

it('has the columns, types and nullability of every model', async () => {
  const columns = await db.query<{ table_name: string; column_name: string; data_type: string; udt_name: string; is_nullable: string }>(
    `SELECT table_name, column_name, data_type, udt_name, is_nullable FROM information_schema.columns WHERE table_schema = 'public'`,
  );
  for (const [model, { fields }] of Object.entries(models)) {
    const actual = columns
      .filter((c) => c.table_name === model)
      .map((c) => ({ column: c.column_name, type: c.data_type === 'USER-DEFINED' ? c.udt_name : c.data_type, nullable: c.is_nullable === 'YES' }))
      .sort((a, b) => a.column.localeCompare(b.column));
    const expected = fields
      .filter((f) => f.kind !== 'object')
      .map((f) => ({ column: f.name, type: expectedType(model, f), nullable: !f.isRequired }))
      .sort((a, b) => a.column.localeCompare(b.column));
    expect(actual, model).toEqual(expected);
  }
});

it('has the unique indexes of every model', async () => {
  const indexes = await db.query<{ table: string; columns: string[] }>(
    `SELECT t.relname AS table, array_agg(a.attname::text ORDER BY k.ord) AS columns
       FROM pg_index i
       JOIN pg_class t ON t.oid = i.indrelid
       JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = 'public'
       CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
       JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
      WHERE i.indisunique AND NOT i.indisprimary AND t.relname <> '_prisma_migrations'
      GROUP BY i.indexrelid, t.relname`,
  );
  const actual = indexes.map((i) => `${i.table}(${i.columns.join(',')})`).sort();
  const expected = Object.entries(models)
    .flatMap(([model, m]) => [
      ...m.fields.filter((f) => f.isUnique).map((f) => `${model}(${f.name})`),
      ...m.uniqueIndexes.map((u) => `${model}(${u.fields.join(',')})`),
    ])
    .sort();
  expect(actual).toEqual(expected);
});

it('has the foreign keys of every relation', async () => {
  const fks = await db.query<{ table: string; column: string; target: string }>(
    `SELECT tc.table_name AS table, kcu.column_name AS column, ccu.table_name AS target
       FROM information_schema.table_constraints tc
       JOIN information_schema.key_column_usage kcu ON kcu.constraint_name = tc.constraint_name
       JOIN information_schema.constraint_column_usage ccu ON ccu.constraint_name = tc.constraint_name
      WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_schema = 'public'`,
  );
  const actual = fks.map((f) => `${f.table}.${f.column}->${f.target}`).sort();
  const expected = Object.entries(models)
    .flatMap(([model, m]) =>
      m.fields
        .filter((f) => f.kind === 'object' && f.relationFromFields?.length)
        .flatMap((f) => f.relationFromFields!.map((col) => `${model}.${col}->${f.type}`)),
    )
    .sort();
  expect(actual).toEqual(expected);
});

it('has the enums of schema.prisma with the same values', async () => {
  const rows = await db.query<{ name: string; values: string[] }>(
    `SELECT t.typname::text AS name, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS values
       FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid GROUP BY t.typname`,
  );
  const actual = Object.fromEntries(rows.map((r) => [r.name, r.values]));
  const expected = Object.fromEntries([...schemaText.matchAll(/^enum (\w+) \{([^}]*)\}/gm)].map((m) => [m[1], m[2]!.split(/\s+/).filter(Boolean)]));
  expect(actual).toEqual(expected);
});
