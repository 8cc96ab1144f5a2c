import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

// The checks of `npm run check` (run first by `npm test`) can fail: each is run on a small fixture
// tree that breaks one of its rules, with the repository's own configuration.

const repo = join(import.meta.dirname, '../..');
const fixtures: string[] = [];

function fixture(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'code-checks-'));
  fixtures.push(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

function run(cwd: string, script: string, args: string[]) {
  const result = spawnSync(process.execPath, [join(repo, script), ...args], { cwd, encoding: 'utf8', timeout: 20_000 });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

const cruise = (cwd: string) =>
  run(cwd, 'node_modules/dependency-cruiser/bin/dependency-cruiser.mjs', [
    'src/**/*.ts',
    '--config',
    join(repo, '.dependency-cruiser.cjs'),
    '--output-type',
    'err',
  ]);

afterAll(() => {
  for (const root of fixtures) rmSync(root, { recursive: true, force: true });
});

describe('dependency-cruiser: the arrows of DESIGN.md', () => {
  it('fails, naming each rule, on a tree that breaks them', () => {
    const root = fixture({
      'src/modules/notes/notes.service.ts': "import { field } from '../../graphql/builder.ts';\nexport const notes = field;\n",
      'src/modules/notes/notes.schema.ts': "import { db } from '../../platform/db.ts';\nexport const schema = db;\n",
      'src/graphql/builder.ts': 'export const field = 1;\n',
      'src/platform/db.ts': "import { notes } from '../modules/notes/notes.service.ts';\nexport const db = notes;\n",
      'src/kernel/ids.ts': "import { field } from '../graphql/builder.ts';\nexport const id = field;\n",
      'src/config/env.ts': "import { notes } from '../modules/notes/notes.service.ts';\nexport const env = notes;\n",
      'src/a.ts': "import { b } from './b.ts';\nexport const a = b;\n",
      'src/b.ts': "import type { a } from './a.ts';\nexport const b: typeof a = 1;\n",
    });
    const { status, output } = cruise(root);
    expect(status).not.toBe(0);
    expect(output).toMatch(/platform-imports-no-feature: src\/platform\/db\.ts → src\/modules\/notes\/notes\.service\.ts/);
    expect(output).toMatch(/services-know-no-graphql: src\/modules\/notes\/notes\.service\.ts → src\/graphql\/builder\.ts/);
    expect(output).toMatch(/schema-files-touch-no-storage: src\/modules\/notes\/notes\.schema\.ts → src\/platform\/db\.ts/);
    expect(output).toMatch(/kernel-imports-only-platform-types: src\/kernel\/ids\.ts → src\/graphql\/builder\.ts/);
    expect(output).toMatch(/config-imports-no-module: src\/config\/env\.ts → src\/modules\/notes\/notes\.service\.ts/);
    // A circle closed by a type-only import is still a circle.
    expect(output).toMatch(/no-circular: src\/(a|b)\.ts/);
  });

  it('passes a tree that keeps them, type-only imports where a rule allows them', () => {
    const root = fixture({
      'src/platform/db.ts': 'export type Db = { url: string };\nexport const connect = (url: string): Db => ({ url });\n',
      'src/kernel/unit-of-work.ts': "import type { Db } from '../platform/db.ts';\nexport const inTransaction = (db: Db) => db;\n",
      'src/modules/notes/notes.service.ts': "import type { Db } from '../../platform/db.ts';\nexport const notes = (db: Db) => db.url;\n",
      'src/modules/notes/notes.schema.ts':
        "import type { Db } from '../../platform/db.ts';\nimport { notes } from './notes.service.ts';\nexport const schema = (db: Db) => notes(db);\n",
    });
    const { status, output } = cruise(root);
    expect(output).toContain('no dependency violations found');
    expect(status).toBe(0);
  });

  it('tells a runtime import of the platform from the kernel apart from a type import', () => {
    const root = fixture({
      'src/platform/clock.ts': 'export const now = () => new Date();\n',
      'src/kernel/ids.ts': "import { now } from '../platform/clock.ts';\nexport const id = () => now().getTime();\n",
    });
    const { status, output } = cruise(root);
    expect(status).not.toBe(0);
    expect(output).toMatch(/kernel-imports-no-platform-runtime: src\/kernel\/ids\.ts → src\/platform\/clock\.ts/);
  });
});

describe('error catalogues', () => {
  it('fails on an error worded in place, naming the line, and passes one thrown from a catalogue', () => {
    const root = fixture({
      'src/kernel/errors.ts': 'export const badInput = (m: string) => new Error(m);\n',
      'src/modules/things/things-errors.ts': "export const thingErrors = { tooLong: () => badInput('too long') };\n",
      'src/modules/things/things.service.ts': 'if (long) throw thingErrors.tooLong();\nif (!ok) throw forbidden();\n',
      'src/modules/things/inline.ts': "const x = 1;\nif (bad) throw badInput('worded here');\n",
      'src/modules/things/built.ts': "throw new AppError('CONFLICT', 'worded here too');\n",
    });
    const { status, output } = run(root, 'scripts/check-error-catalogues.ts', []);
    expect(status).toBe(1);
    expect(output).toContain("src/modules/things/inline.ts:2: if (bad) throw badInput('worded here');");
    expect(output).toContain('src/modules/things/built.ts:1:');
    expect(output).not.toMatch(/things-errors|things\.service|kernel/);

    rmSync(join(root, 'src/modules/things/inline.ts'));
    rmSync(join(root, 'src/modules/things/built.ts'));
    expect(run(root, 'scripts/check-error-catalogues.ts', []).status).toBe(0);
  });
});

describe('file sizes', () => {
  const lines = (n: number) => Array.from({ length: n }, (_, i) => `export const line${i} = ${i};\n`).join('');

  it('fails on a file of 301 lines, naming it, and passes one of 300', () => {
    const root = fixture({ 'src/long.ts': lines(301), 'test/fits.test.ts': lines(300), 'scripts/elsewhere.ts': lines(400) });
    const { status, output } = run(root, 'scripts/check-size.ts', []);
    expect(status).toBe(1);
    expect(output).toContain('src/long.ts has 301 lines');
    expect(output).not.toContain('fits.test.ts');
    expect(output).not.toContain('elsewhere.ts');

    rmSync(join(root, 'src/long.ts'));
    expect(run(root, 'scripts/check-size.ts', []).status).toBe(0);
  });
});
