import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as publicApi from '../../lib/index.js';
import {
  KEY_OPTIONS,
  REGISTRATION_OPTIONS,
  resolveApiKeyOptions,
  validateRegistration,
} from '../../lib/options/resolve.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
/** A page of `docs/`, by file name. */
const doc = (page: string) => readFileSync(new URL(`../../docs/${page}`, import.meta.url), 'utf8');
const DOC_PAGES = readdirSync(new URL('../../docs/', import.meta.url)).filter((file) =>
  file.endsWith('.md'),
);
const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));

/** Where the README's links to files the package does not ship point, on the repository. */
/** Files npm ships whatever `files` says. */
const ALWAYS_SHIPPED = ['README.md', 'LICENSE', 'package.json'];

/** Whether a path of the repository is in the package, by the manifest's `files`. */
function shipped(path: string): boolean {
  return (
    ALWAYS_SHIPPED.includes(path) ||
    (manifest.files as string[]).some(
      (entry) =>
        !entry.startsWith('!') &&
        !entry.includes('*') &&
        (path === entry || path.startsWith(`${entry}/`)),
    )
  );
}

/** The text under a `##` or `###` heading of a page, up to the next heading of any level. */
function section(title: string, page = readme, source = 'README'): string {
  const heading = [`\n## ${title}\n`, `\n### ${title}\n`].find((h) => page.includes(h));
  const start = heading === undefined ? -1 : page.indexOf(heading);
  expect(start, `${source} has a "${title}" section`).toBeGreaterThan(-1);
  const next = /\n#{1,6} /g;
  next.lastIndex = start + 1;
  const end = next.exec(page)?.index;
  return page.slice(start, end);
}

/** The option tables: the README's summary and the reference page, each checked in full. */
const OPTION_TABLES = [
  { source: 'README', table: () => section('Configuration') },
  {
    source: 'docs/configuration.md',
    table: () => section('Options', doc('configuration.md'), 'docs/configuration.md'),
  },
];

/** Whether a link target is a file of the repository, from the page that links to it. */
function expectLinkedFileExists(target: string, from: string): void {
  if (!/^https?:/.test(target) && !target.startsWith('#')) {
    const file = new URL(target.split('#')[0], new URL(`../../${from}`, import.meta.url));
    expect(existsSync(file), `${from} links to ${target}`).toBe(true);
  }
}

describe('README', () => {
  for (const { source, table } of OPTION_TABLES) {
    it(`documents every module option, and only real ones, in the ${source} options table`, () => {
      const rows = [...table().matchAll(/^\| `([A-Za-z]+)` \|/gm)].map((m) => m[1]);
      expect(new Set(rows)).toEqual(new Set([...KEY_OPTIONS, ...REGISTRATION_OPTIONS]));
    });

    it(`gives the defaults the module really uses, where the ${source} table states them as values`, () => {
      const resolved = resolveApiKeyOptions({}, validateRegistration({})) as unknown as Record<
        string,
        unknown
      >;
      const cells = [...table().matchAll(/^\| `([A-Za-z]+)` \| `([^`]*)` \|/gm)];
      let checked = 0;
      for (const [, option, cell] of cells) {
        if (!(KEY_OPTIONS as readonly string[]).includes(option)) continue;
        // Numbers, quoted strings, bare words and `{ field: number }` objects; prose defaults are skipped.
        const json = cell.replace(/([A-Za-z]+):/g, '"$1":').replace(/^'(.*)'$/, '"$1"');
        let value: unknown;
        try {
          value = JSON.parse(json);
        } catch {
          if (/^[A-Za-z-]+$/.test(cell)) {
            value = cell;
          } else {
            // An object default with some fields in words: check every `field: number` it states.
            for (const [, field, number] of cell.matchAll(/([A-Za-z]+): (\d+)(?=[,\s}])/g)) {
              expect(
                (resolved[option] as Record<string, unknown>)[field],
                `${source} default of ${option}.${field}`,
              ).toBe(Number(number));
              checked++;
            }
            continue;
          }
        }
        expect(resolved[option], `${source} default of ${option}`).toEqual(value);
        checked++;
      }
      expect(checked).toBeGreaterThanOrEqual(9);
      // The one default stated in words.
      expect(table()).toContain(
        '`maxConcurrent` defaults to the CPU cores less one, between 1 and 2',
      );
    });
  }

  it('names only decorators and guard hooks that exist', () => {
    const composition = doc('composition.md');
    // The page's decorators, up to its hooks (which name Nest's own `@Injectable()` and `@Optional()`).
    const decorators = composition.slice(0, composition.indexOf('\n## Customising the guard\n'));
    for (const text of [section('Decorators and composition'), decorators]) {
      for (const decorator of text.matchAll(/`@([A-Za-z]+)\(/g)) {
        if (decorator[1] === 'UseGuards') continue;
        expect(publicApi, `@${decorator[1]} is exported`).toHaveProperty(decorator[1]);
      }
    }
    const hooks = [
      ...section('Customising the guard', composition, 'docs/composition.md').matchAll(
        /^\| `([a-zA-Z]+)\(/gm,
      ),
    ].map((m) => m[1]);
    expect(hooks.length).toBeGreaterThan(4);
    for (const hook of hooks) {
      expect(typeof (publicApi.ApiKeyGuard.prototype as any)[hook], `ApiKeyGuard.${hook}`).toBe(
        'function',
      );
    }
  });

  it('names only service methods that exist', () => {
    const methods = [...doc('service.md').matchAll(/^\| `([a-zA-Z]+)\(/gm)].map((m) => m[1]);
    expect(methods.length).toBeGreaterThan(5);
    // The README's summary names them in prose, as `create(…)` or `revoke()`.
    const named = [...section('The service').matchAll(/`([a-zA-Z]+)\(/g)].map((m) => m[1]);
    expect(named.length).toBeGreaterThan(5);
    for (const method of [...methods, ...named]) {
      expect(
        typeof (publicApi.ApiKeyService.prototype as any)[method],
        `ApiKeyService.${method}`,
      ).toBe('function');
    }
  });

  it('links its own files relatively, and only to files it ships, so they open in node_modules too', () => {
    const targets = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]);
    expect(targets.length).toBeGreaterThan(5);
    for (const target of targets) {
      if (target.startsWith('#') || /^https?:/.test(target)) continue;
      // Relative links break on the npm package page unless the package has their target.
      expect(shipped(target.split('#')[0]), `${target} is shipped`).toBe(true);
      expectLinkedFileExists(target, 'README.md');
    }
  });

  it('has docs pages that link only to existing files of the repository', () => {
    expect(DOC_PAGES.length).toBeGreaterThan(5);
    for (const page of DOC_PAGES) {
      for (const [, target] of doc(page).matchAll(/\]\(([^)\s]+)\)/g)) {
        expectLinkedFileExists(target, `docs/${page}`);
      }
    }
  });

  it('stays short: at most 18,000 bytes, details in docs/', () => {
    expect(Buffer.byteLength(readme)).toBeLessThanOrEqual(18_000);
  });

  it('has an architecture page naming every folder of lib/', () => {
    const page = doc('architecture.md');
    const folders = readdirSync(new URL('../../lib/', import.meta.url), { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name);
    expect(folders.length).toBeGreaterThan(10);
    expect(folders.filter((folder) => !page.includes(`\`${folder}/\``))).toEqual([]);
  });

  it('links the architecture page from its top, as CONTRIBUTING.md does', () => {
    const top = readme.slice(0, readme.indexOf('\n## '));
    expect(top).toContain('](docs/architecture.md)');
    const contributing = readFileSync(new URL('../../CONTRIBUTING.md', import.meta.url), 'utf8');
    expect(contributing).toContain('](docs/architecture.md)');
    for (const topic of ['## Run', '## Test', '## Bench', '## Release'])
      expect(contributing).toContain(topic);
  });

  it('names no URL of a repository that does not exist, in the manifest, the README or the docs', () => {
    const texts = [JSON.stringify(manifest), readme, ...DOC_PAGES.map(doc)];
    for (const text of texts)
      expect(text).not.toMatch(
        /github\.com\/nestjs-api-key|githubusercontent\.com\/nestjs-api-key/,
      );
    expect(manifest.repository).toBeUndefined();
    expect(manifest.homepage).toBeUndefined();
  });
});
