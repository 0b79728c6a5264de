import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as publicApi from '../../lib/index.js';
import {
  KEY_OPTIONS,
  REGISTRATION_OPTIONS,
  resolveApiKeyOptions,
  validateRegistration,
} from '../../lib/api-key.options.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));

/** Where the README's links to files the package does not ship point, on the repository. */
const REPOSITORY_FILE =
  /^https:\/\/(?:github\.com\/nestjs-api-key\/nestjs-api-key\/blob|raw\.githubusercontent\.com\/nestjs-api-key\/nestjs-api-key)\/main\/([^#?]+)/;

/** Files npm ships whatever `files` says. */
const ALWAYS_SHIPPED = ['README.md', 'LICENSE', 'package.json'];

/** Whether a path of the repository is in the package, by the manifest's `files`. */
function shipped(path: string): boolean {
  return (
    ALWAYS_SHIPPED.includes(path) ||
    (manifest.files as string[]).some(
      (entry) => !entry.startsWith('!') && !entry.includes('*') && path.startsWith(`${entry}/`),
    )
  );
}

/** The text under a `##` or `###` heading, up to the next heading of any level. */
function section(title: string): string {
  const heading = [`\n## ${title}\n`, `\n### ${title}\n`].find((h) => readme.includes(h));
  const start = heading === undefined ? -1 : readme.indexOf(heading);
  expect(start, `README has a "${title}" section`).toBeGreaterThan(-1);
  const next = /\n#{1,6} /g;
  next.lastIndex = start + 1;
  const end = next.exec(readme)?.index;
  return readme.slice(start, end);
}

describe('README', () => {
  it('documents every module option, and only real ones, in the Configuration table', () => {
    const rows = [...section('Configuration').matchAll(/^\| `([A-Za-z]+)` \|/gm)].map((m) => m[1]);
    expect(new Set(rows)).toEqual(new Set([...KEY_OPTIONS, ...REGISTRATION_OPTIONS]));
  });

  it('gives the defaults the module really uses, where the table states them as values', () => {
    const resolved = resolveApiKeyOptions({}, validateRegistration({})) as unknown as Record<
      string,
      unknown
    >;
    const cells = [...section('Configuration').matchAll(/^\| `([A-Za-z]+)` \| `([^`]*)` \|/gm)];
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
              `README default of ${option}.${field}`,
            ).toBe(Number(number));
            checked++;
          }
          continue;
        }
      }
      expect(resolved[option], `README default of ${option}`).toEqual(value);
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(9);
    // The one default stated in words.
    expect(section('Configuration')).toContain(
      '`maxConcurrent` defaults to the CPU cores less one, between 1 and 2',
    );
  });

  it('names only decorators and guard hooks that exist', () => {
    for (const decorator of section('Decorators and composition').matchAll(/`@([A-Za-z]+)\(/g)) {
      if (decorator[1] === 'UseGuards') continue;
      expect(publicApi, `@${decorator[1]} is exported`).toHaveProperty(decorator[1]);
    }
    const hooks = [...section('Customising the guard').matchAll(/^\| `([a-zA-Z]+)\(/gm)].map(
      (m) => m[1],
    );
    expect(hooks.length).toBeGreaterThan(4);
    for (const hook of hooks) {
      expect(typeof (publicApi.ApiKeyGuard.prototype as any)[hook], `ApiKeyGuard.${hook}`).toBe(
        'function',
      );
    }
  });

  it('names only service methods that exist', () => {
    const methods = [...section('The service').matchAll(/^\| `([a-zA-Z]+)\(/gm)].map((m) => m[1]);
    expect(methods.length).toBeGreaterThan(5);
    for (const method of methods) {
      expect(
        typeof (publicApi.ApiKeyService.prototype as any)[method],
        `ApiKeyService.${method}`,
      ).toBe('function');
    }
  });

  it('links only to files it ships, or to existing files of the repository by absolute URL', () => {
    const targets = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]);
    expect(targets.length).toBeGreaterThan(5);
    for (const target of targets) {
      if (target.startsWith('#')) continue;
      const repositoryFile = REPOSITORY_FILE.exec(target);
      if (repositoryFile) {
        expect(existsSync(new URL(`../../${repositoryFile[1]}`, import.meta.url)), target).toBe(
          true,
        );
      } else if (!/^https?:/.test(target)) {
        // Relative links break on the npm package page unless the package has their target.
        expect(shipped(target.split('#')[0]), `${target} is shipped`).toBe(true);
      }
    }
  });

  it('names its repository in the manifest, where the absolute links point', () => {
    expect(manifest.repository.url).toBe(
      'git+https://github.com/nestjs-api-key/nestjs-api-key.git',
    );
    expect(manifest.homepage).toMatch(/^https:\/\/github\.com\/nestjs-api-key\/nestjs-api-key/);
  });
});
