import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, lastLine, runCli } from '../support/sample-app.js';

/**
 * The CLI as an app that installs the package uses it: pointed at the app's own compiled data
 * source file, whose `apiKeyOptions` export must shape the keys the CLI makes.
 */
describe("key CLI on an app's own data source file", { timeout: 120_000 }, () => {
  let dir: string;
  let dataSourceFile: string;

  beforeAll(async () => {
    // Inside the repository, so the file resolves `typeorm` as an installed app's would.
    dir = mkdtempSync(join(REPO_ROOT, 'test/cli-own-data-source/tmp-'));
    const lib = pathToFileURL(join(REPO_ROOT, 'sample-app/dist/lib/index.js')).href;
    dataSourceFile = join(dir, 'data-source.mjs');
    writeFileSync(
      dataSourceFile,
      `import { DataSource } from 'typeorm';
import { ApiKey, BcryptApiKeyHasher, CreateApiKeys1764000000000 } from '${lib}';
export const appDataSource = new DataSource({
  type: 'better-sqlite3',
  database: ${JSON.stringify(join(dir, 'app.sqlite'))},
  entities: [ApiKey],
  migrations: [CreateApiKeys1764000000000],
});
export const apiKeyOptions = { brand: 'sk_test_', hasher: new BcryptApiKeyHasher({ cost: 4 }) };
`,
    );
  }, 180_000);
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("runs the migrations and makes keys with the app's brand and hasher", async () => {
    const created = await runCli(
      ['--data-source', dataSourceFile, 'create', '--name', 'branded', '--json'],
      {},
      { dataSource: false },
    );
    expect(created.code, created.stderr).toBe(0);
    const { key, prefix } = JSON.parse(lastLine(created.stdout));
    expect(key).toMatch(/^sk_test_[A-Za-z0-9]{8}\.[A-Za-z0-9]{32}$/);
    expect(key.slice('sk_test_'.length, 'sk_test_'.length + 8)).toBe(prefix);

    const shown = await runCli(
      ['--data-source', dataSourceFile, 'show', prefix, '--json'],
      {},
      { dataSource: false },
    );
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).not.toContain(key.slice(-32));
    expect(shown.stdout).not.toMatch(/\$2b\$04\$/);
  });
});
