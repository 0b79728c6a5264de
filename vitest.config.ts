import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // test/meta checks the README and the package manifest against the code.
    include: ['lib/**/*.spec.ts', 'test/**/*.e2e-spec.ts', 'test/meta/**/*.spec.ts'],
    // Builds the sample app and the CLI that test/sample-app and test/cli* start as processes.
    globalSetup: ['test/support/global-setup.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Every suite makes its own databases, so files may run side by side.
    fileParallelism: true,
    maxWorkers: 2,
    reporters: ['default'],
  },
});
