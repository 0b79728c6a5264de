import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';
import { ensurePostgres, postgresAddress } from './embedded-postgres.js';
import { IN_CI, missingServices } from './services.js';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Builds the sample app and the CLI exactly as `npm start` and `npm run keys` do
 * (`npm run build:sample`, an incremental `tsc -b`), once, before any test file runs: the
 * suites that start them only read the output, so they never race a build. Runs for every
 * run, whatever files it selects; an up-to-date build writes nothing.
 */
async function buildSampleApp(): Promise<void> {
  try {
    await promisify(execFile)('npm', ['run', '-s', 'build:sample'], { cwd: REPO_ROOT });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`npm run build:sample failed:\n${stdout ?? ''}${stderr ?? ''}`, {
      cause: error,
    });
  }
}

/**
 * Vitest's global setup: refuses a CI run with a service missing (nothing may be left out
 * there), starts an embedded PostgreSQL where none answers at `PGHOST:PGPORT` (the workers,
 * started afterwards, inherit the environment pointing at it), builds the sample app, and
 * builds it again before each rerun in watch mode. Its teardown stops the embedded server.
 *
 * @throws {Error} with `CI=true`, naming every missing service and where it was looked for
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const absent = await missingServices();
  if (IN_CI && absent.length > 0) {
    throw new Error(
      `CI=true, and the suite may leave nothing out, but ${absent
        .map((service) => `${service.name} is not at ${service.where}`)
        .join('; ')}.`,
    );
  }
  const { host, port } = postgresAddress();
  const embedded = await ensurePostgres();
  if (embedded) {
    console.log(
      `No PostgreSQL answers at ${host}:${port}: the PostgreSQL specs run on embedded PostgreSQL 18 at ${embedded.where}.`,
    );
  }
  await buildSampleApp();
  project.onTestsRerun(buildSampleApp);
  return async () => {
    await embedded?.stop();
  };
}
