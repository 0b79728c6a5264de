import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
/** The page with the table by folder, and what the notify project leaves out. */
const page = readFileSync(join(ROOT, 'docs', 'test-suite.md'), 'utf8');
const vitestConfig = readFileSync(join(ROOT, 'vitest.config.ts'), 'utf8');

/** The README's "Running the tests" section, with its summary table. */
const section = (() => {
  const start = readme.indexOf('\n## Running the tests\n');
  const end = readme.indexOf('\n## ', start + 1);
  return readme.slice(start, end);
})();

type Engine = 'sqlite' | 'postgres' | 'mariadb';

/** The engines, as the table names them. */
const ENGINE_NAMES: ReadonlyArray<readonly [Engine, string]> = [
  ['sqlite', 'SQLite'],
  ['postgres', 'PostgreSQL'],
  ['mariadb', 'MariaDB'],
];

/** Each row of a table: the folders it names, its adapters and its engines. */
function tableRows(text: string) {
  return [...text.matchAll(/^\| (?!Area|Suites|---)(.+?) \| (.+?) \| (.+?) \|$/gm)].map(
    ([, area, adapters, engines]) => ({
      area,
      folders: [...area.matchAll(/`([a-z-]+\/?)`/g)].map(([, name]) => name),
      adapters,
      engines: ENGINE_NAMES.filter(
        ([, name]) => engines.includes(name) || engines === 'all three',
      ).map(([engine]) => engine),
    }),
  );
}

/** The table by folder, in docs/test-suite.md. */
const rows = tableRows(page);

/** The folders of `test/` that hold specs: every one but the shared support code. */
const testFolders = readdirSync(join(ROOT, 'test')).filter(
  (name) => name !== 'support' && statSync(join(ROOT, 'test', name)).isDirectory(),
);

/** Every TypeScript file under `dir`, its specs and the apps they start. */
function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .map((file) => readFileSync(join(ROOT, dir, file), 'utf8'));
}

/** The path of a folder the table names: `lib/`, or one of `test/`. */
const pathOf = (folder: string) => (folder === 'lib/' ? 'lib' : join('test', folder));

/**
 * The engines the code of `folder` can reach, from its text: every engine where it takes the
 * shared lists of test/support, else the engines it names.
 */
function enginesOf(folder: string): Set<Engine> {
  const text = sources(pathOf(folder)).join('\n');
  if (/import \{[^}]*\b(SAMPLE_)?ENGINES\b[^}]*\} from '\.\.\/support\//.test(text))
    return new Set(['sqlite', 'postgres', 'mariadb']);
  const found = new Set<Engine>();
  if (/'sqlite(-file)?'|better-sqlite3|SQLITE/.test(text)) found.add('sqlite');
  if (/'postgres'/.test(text)) found.add('postgres');
  if (/'mariadb'/.test(text)) found.add('mariadb');
  return found;
}

describe('the test tables', () => {
  it('summarises in the README what the rows by folder say', () => {
    const summary = tableRows(section);
    expect(summary.length).toBeGreaterThan(3);
    for (const { area, adapters, engines } of summary) {
      // A summary row stands for the rows by folder its first word names ("Outages" for
      // "Database outages and stalls"): one of them has exactly its adapters and engines.
      const word = area.split(/[ ,]/)[0].toLowerCase();
      const named = rows.filter((row) => row.area.toLowerCase().includes(word));
      expect(named.length, area).toBeGreaterThan(0);
      expect(
        named.map((row) => `${row.adapters}: ${row.engines.join()}`),
        area,
      ).toContain(`${adapters}: ${engines.join()}`);
    }
  });

  it('has rows, each naming folders that exist', () => {
    expect(rows.length).toBeGreaterThan(5);
    for (const { area, folders } of rows) {
      expect(folders, area).not.toEqual([]);
      for (const folder of folders)
        expect(statSync(join(ROOT, pathOf(folder))).isDirectory(), folder).toBe(true);
    }
  });

  it('names every folder of test/ in some row', () => {
    const named = new Set(rows.flatMap(({ folders }) => folders));
    expect(testFolders.filter((folder) => !named.has(folder))).toEqual([]);
  });

  it('claims both adapters only for folders that run every spec on both', () => {
    for (const { folders } of rows.filter((row) => row.adapters === 'Express, Fastify')) {
      for (const folder of folders) {
        const specs = readdirSync(join(ROOT, 'test', folder)).filter((file) =>
          file.endsWith('.e2e-spec.ts'),
        );
        // admin-page and multi-process are named in rows of their own.
        const scoped = specs.filter(
          (file) => !['admin-page.e2e-spec.ts', 'multi-process.e2e-spec.ts'].includes(file),
        );
        expect(scoped.length, folder).toBeGreaterThan(0);
        for (const file of scoped) {
          const text = readFileSync(join(ROOT, 'test', folder, file), 'utf8');
          expect(text, `${folder}/${file} runs on ADAPTERS`).toMatch(
            /describe\.each\((ADAPTERS|CASES|PLATFORMS)\)/,
          );
        }
      }
    }
  });

  it('claims no engine a folder does not reach', () => {
    for (const { area, folders, engines } of rows) {
      for (const folder of folders) {
        const reached = enginesOf(folder);
        expect(
          engines.filter((engine) => !reached.has(engine)),
          `${folder} (${area})`,
        ).toEqual([]);
      }
    }
  });

  it('names what the notify project leaves out of test/, as vitest.config.ts does', () => {
    const notifyParagraph = page.slice(page.indexOf('two Vitest projects'));
    const leftOut = [
      ...vitestConfig.matchAll(/'test\/([a-z-]+(?:\/[a-z-]+)?)(?:\/\*\*|\.e2e-spec\.ts)'/g),
    ].map(([, path]) => path);
    expect(leftOut).toContain('newcomer');
    // test/meta is not in the notify project's include at all.
    for (const path of [...leftOut, 'meta']) expect(notifyParagraph).toContain(`\`${path}\``);
  });
});
