import { defineConfig } from 'vitest/config';

// graphql 17 ships a separate build under the "development" condition, which Vite adds by default;
// mixing it with the build that yoga and Pothos load gives two GraphQLError classes.
const conditions = ['module', 'node', 'production'];

// Files that compare response times (checklist 13 and 20: no enumeration by timing; 46: /health
// answers during a validation attack) run on their
// own after the rest (`npm test` runs the two projects one after the other), so that other test
// files do not load the two cores while they measure.
const timed = ['test/security/login-security.test.ts', 'test/security/recovery.test.ts', 'test/security/validation-dos.test.ts'];

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
      { extends: true, test: { name: 'main', include: ['test/**/*.test.ts'], exclude: timed, maxWorkers: 2 } },
      { extends: true, test: { name: 'timed', include: timed, maxWorkers: 1 } },
    ],
  },
});
