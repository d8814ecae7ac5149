import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/setup/global.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Two cores on CI: two test files at a time, each on its own database.
    maxWorkers: 2,
    reporters: ['default', './test/setup/count-reporter.ts'],
  },
});
