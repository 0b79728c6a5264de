import { vi } from 'vitest';
import { withNotifyDefault } from './revocation-sync-mode.js';

/**
 * Setup file of the `notify` project (vitest.config.ts): the options resolver gives every
 * registration that chose no `revocationSync` and no `Raw(...)` usableWhere
 * `revocationSync: 'notify'`, whether it is made by `ApiKeyModule.forRoot`, `forRootAsync` or
 * `wireApiKeys`. Every database the suites use (PostgreSQL, MariaDB, SQLite) supports it. The
 * project also sets `TEST_REVOCATION_SYNC` (see `inNotifyProject`) for the helpers that wait.
 */
vi.mock('../../lib/options/resolve.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../lib/options/resolve.js')>();
  return {
    ...original,
    resolveApiKeyOptions: ((options, registration) =>
      original.resolveApiKeyOptions(
        withNotifyDefault(options),
        registration,
      )) as typeof original.resolveApiKeyOptions,
  };
});
