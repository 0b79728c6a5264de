import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT, runCli, type CliResult } from '../support/sample-app.js';

/** The built library, as an installed app's data source file would import it. */
export const LIB_URL = pathToFileURL(join(REPO_ROOT, 'sample-app/dist/lib/index.js')).href;
/** The sample's compiled partner key type and its tables' migration. */
export const PARTNERS = {
  entity: pathToFileURL(
    join(REPO_ROOT, 'sample-app/dist/sample-app/partners/partner-api-key.entity.js'),
  ).href,
  partner: pathToFileURL(join(REPO_ROOT, 'sample-app/dist/sample-app/partners/partner.entity.js'))
    .href,
  migration: pathToFileURL(
    join(REPO_ROOT, 'sample-app/dist/sample-app/migrations/1764100000000-create-partner-tables.js'),
  ).href,
};

/**
 * A new directory for data source files, inside the repository so that they resolve `typeorm`
 * as an installed app's would (removed by the caller; `tmp-*` is git-ignored).
 */
export function dataSourceDir(): string {
  return mkdtempSync(join(REPO_ROOT, 'test/cli-own-data-source/tmp-'));
}

/**
 * Writes a data source file. A `.js` file goes in a folder of its own whose package.json says
 * `commonjs` or `module`, as the app's build would.
 */
export function writeDataSource(
  dir: string,
  name: string,
  source: string,
  moduleType?: 'commonjs' | 'module',
): string {
  const folder = moduleType ? join(dir, name.replace(/\W/g, '-')) : dir;
  mkdirSync(folder, { recursive: true });
  if (moduleType) writeFileSync(join(folder, 'package.json'), JSON.stringify({ type: moduleType }));
  const file = join(folder, name);
  writeFileSync(file, source);
  return file;
}

/** Runs the built CLI on a data source file of the test's own. */
export function cliOn(file: string, ...args: string[]): Promise<CliResult> {
  return runCli(['--data-source', file, ...args], {}, { dataSource: false });
}
