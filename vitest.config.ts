import { defineConfig } from 'vitest/config';

// graphql 17 ships a separate build under the "development" condition, which Vite adds by default;
// mixing it with the build that yoga and Pothos load gives two GraphQLError classes.
const conditions = ['module', 'node', 'production'];

// Files that compare response times (checklist 13 and 20: no enumeration by timing; 46, 53, 54:
// /health answers during an attack) run on their own after the rest (`npm test` runs the projects
// one after the other), so that other test files do not load the two cores while they measure.
const timed = [
  'test/security/login-security.test.ts', 'test/security/recovery.test.ts', 'test/security/validation-dos.test.ts',
  'test/security/sse-reservations.test.ts', 'test/security/websocket-caps.test.ts',
];
// Each cluster test file runs several service processes and HAProxy (npm run cluster): one file at a
// time, after the rest.
const cluster = ['test/cluster/**/*.test.ts'];
// Fault injection (issue 21: signals, killed workers, a Redis of their own stopped and started)
// measures deadlines in seconds: one file at a time, after the rest.
const reliability = ['test/reliability/**/*.test.ts'];
// Headless Chromium against service processes (account pages, GraphiQL offline, passkeys): each
// file starts browsers and services of its own, so they run two at a time after the main project.
const e2e = ['test/e2e/**/*.test.ts'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['node', 'production'] } },
  test: {
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    globalSetup: ['test/helpers/global-setup.ts'],
    projects: [
      // Each file gets its own database; two workers match the two cores of the target machine.
      { extends: true, test: { name: 'main', include: ['test/**/*.test.ts'], exclude: [...timed, ...cluster, ...reliability, ...e2e], maxWorkers: 2 } },
      { extends: true, test: { name: 'e2e', include: e2e, maxWorkers: 2, testTimeout: 60_000 } },
      { extends: true, test: { name: 'timed', include: timed, maxWorkers: 1 } },
      { extends: true, test: { name: 'reliability', include: reliability, maxWorkers: 1 } },
      { extends: true, test: { name: 'cluster', include: cluster, maxWorkers: 1, testTimeout: 120_000, hookTimeout: 120_000 } },
    ],
  },
});
