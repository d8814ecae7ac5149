import { defineConfig } from 'vitest/config';

/** The database suites that also run on PostgreSQL 15, Supabase's other major (17 runs every suite). */
const ON_PG15 = ['test/cli.test.ts', 'test/security.test.ts', 'test/legacy-adopt.test.ts', 'test/sync.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Two cores on CI: two test files at a time, each on its own database.
    maxWorkers: 2,
    reporters: ['default', './test/setup/count-reporter.ts'],
    projects: [
      {
        extends: true,
        test: { name: 'pg17', include: ['test/**/*.test.{ts,tsx}'], globalSetup: ['test/setup/global.ts'] },
      },
      {
        extends: true,
        test: { name: 'pg15', include: ON_PG15, globalSetup: ['test/setup/global.ts'] },
      },
    ],
  },
});
