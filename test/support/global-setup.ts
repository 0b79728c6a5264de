import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';

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

/** Vitest's global setup: build now, and again before each rerun in watch mode. */
export default async function setup(project: TestProject): Promise<void> {
  await buildSampleApp();
  project.onTestsRerun(buildSampleApp);
}
