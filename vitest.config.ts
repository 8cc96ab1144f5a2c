import { defineConfig } from 'vitest/config';

// graphql 17 ships a separate build under the "development" condition, which Vite adds by default;
// mixing it with the build that yoga and Pothos load gives two GraphQLError classes.
const conditions = ['module', 'node', 'production'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['node', 'production'] } },
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    // Each file gets its own database; two workers match the two cores of the target machine.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    globalSetup: ['test/helpers/global-setup.ts'],
  },
});
