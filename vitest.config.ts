import { configDefaults, defineConfig } from 'vitest/config';
import { LeftOutReporter } from './test/support/left-out-reporter.js';
import { IN_CI, missingServices, patternRunningOnlyPresent } from './test/support/services.js';

/** What both projects share. */
const shared = {
  pool: 'forks',
  testTimeout: 30_000,
  hookTimeout: 60_000,
  // Every suite makes its own databases, so files may run side by side.
  fileParallelism: true,
} as const;

/** Fails any test that makes no assertion: set up in both projects. */
const HAS_ASSERTIONS = 'test/support/has-assertions.setup.ts';

/**
 * Specs the notify project leaves to the default one. Most never register keys over a database
 * (parsing, formats, hashers, limits, route rules, the admin/swagger/throttler/secret-scanning
 * helpers), so notify mode cannot change what they check. Some assert the default mode by name:
 * the options' defaults, `revocationSync` defaulting to 'read' (change-feed/cache.spec),
 * and the rowCacheTtl spec (which covers notify explicitly as well).
 */
const DEFAULT_MODE_ONLY = [
  'lib/admin/**/*.spec.ts',
  'lib/secret-scanning/**/*.spec.ts',
  'lib/swagger/**/*.spec.ts',
  'lib/throttler/**/*.spec.ts',
  'lib/cli/args.spec.ts',
  'lib/cli/values.spec.ts',
  'lib/api-key.decorators.spec.ts',
  'lib/keys/format*.spec.ts',
  'lib/keys/hasher.spec.ts',
  'lib/verification/limiter.spec.ts',
  'lib/verification/lru.spec.ts',
  'lib/api-key.options.spec.ts',
  'lib/request/context*.spec.ts',
  'lib/request/key-property.spec.ts',
  'lib/request/route-rules.spec.ts',
  'lib/api-key.service.rowcache.spec.ts',
  'lib/store/deadline.spec.ts',
  'lib/store/usage.deadline.spec.ts',
  // The key CLI and the README's newcomer app run in child processes of their own, which the
  // notify setup does not reach and no API_KEY_REVOCATION_SYNC configures: nothing would change.
  'test/cli-own-data-source/**',
  'test/cli/cli-dormant.e2e-spec.ts',
  'test/newcomer/**',
  // Notify mode's own specs: every registration there sets revocationSync already.
  'lib/change-feed/**/*.spec.ts',
  'test/revocation-sync/**',
];

/**
 * MariaDB, Redis and Chromium where they answer; the tests of a missing one are left out by name
 * (they are named for it) and counted in a summary at the end. With CI=true the global setup
 * refuses the run instead. PostgreSQL is always there: see test/support/global-setup.ts.
 */
const absent = await missingServices();

export default defineConfig({
  test: {
    testNamePattern: patternRunningOnlyPresent(absent),
    // Builds the sample app and the CLI that test/sample-app and test/cli* start as processes.
    // Here, not in the projects: Vitest runs the root's global setup once, before either project.
    globalSetup: ['test/support/global-setup.ts'],
    // Shared by both projects: at most two test files at a time in all.
    maxWorkers: 2,
    // In CI the global setup names what is missing and fails; nothing to sum up there.
    reporters: ['default', new LeftOutReporter(IN_CI ? [] : absent)],
    projects: [
      {
        test: {
          ...shared,
          name: 'default',
          setupFiles: [HAS_ASSERTIONS],
          // test/meta checks the README and the package manifest against the code.
          include: ['lib/**/*.spec.ts', 'test/**/*.e2e-spec.ts', 'test/meta/**/*.spec.ts'],
        },
      },
      {
        // The same suites again, every registration that allows it in revocationSync: 'notify'
        // (see test/support/notify-mode.setup.ts); sample apps started with
        // API_KEY_REVOCATION_SYNC=notify. test/meta reads files, not keys: default project only.
        test: {
          ...shared,
          name: 'notify',
          include: ['lib/**/*.spec.ts', 'test/**/*.e2e-spec.ts'],
          exclude: [...configDefaults.exclude, ...DEFAULT_MODE_ONLY],
          setupFiles: [HAS_ASSERTIONS, 'test/support/notify-mode.setup.ts'],
          // Read by inNotifyProject() (test/support/revocation-sync-mode.ts).
          env: { NESTJS_API_KEY_TEST_REVOCATION_SYNC: 'notify' },
        },
      },
    ],
  },
});
