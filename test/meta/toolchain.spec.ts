import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/packed-package.js';
import { OPTIONAL_SERVICES, patternRunningOnlyPresent } from '../support/services.js';

const read = (file: string) => readFileSync(join(REPO_ROOT, file), 'utf8');
const readme = read('README.md');
const section = (title: string) => readme.slice(readme.indexOf(`## ${title}`)).split('\n## ')[0];
const manifest = JSON.parse(read('package.json'));

/** The README's claims about Node, TypeScript, CI and the test run, against what makes them true. */
describe('the toolchain the README states', () => {
  it('states the Node range that engines declares', () => {
    expect(manifest.engines.node).toBe('>=20.19.0');
    expect(section('Compatibility')).toContain('Node.js 20.19 or later (`engines`)');
  });

  it('runs the Node lines it names in CI: the suite on 24, the packed package on 22 and 26', () => {
    const ci = read('.ci/run');
    expect(ci).toContain('CI=true npm test');
    expect(ci).toMatch(
      /node@24 node node_modules\/vitest\/vitest\.mjs run --project default \\\n\s+-t 'on \(postgres\|mariadb\)'/,
    );
    expect(ci).toContain('for node in 22 26; do');
    expect(ci).toContain('test/meta/package.spec.ts');
  });

  it('gives the quick start a tsconfig that TypeScript 6 and 7 compile: types names node', () => {
    expect(readme).toContain('"types": ["node"]');
  });

  it('tells Swagger users to install TypeScript 6, as long as @nestjs/swagger refuses 7', () => {
    const swagger = JSON.parse(read('node_modules/@nestjs/swagger/package.json'));
    expect(swagger.peerDependencies.typescript).not.toMatch(/\^7|>=/);
    expect(section('OpenAPI and rate limits')).toContain('npm install -D typescript@6');
  });

  it('names the environment variables the suite reads, and leaves out only tests named for a service', () => {
    for (const name of [
      'PGHOST',
      'PGPORT',
      'MYSQL_HOST',
      'MYSQL_PORT',
      'REDIS_URL',
      'CHROMIUM_PATH',
    ])
      expect(section('Running the tests')).toContain(`\`${name}\``);
    const pattern = patternRunningOnlyPresent(OPTIONAL_SERVICES)!;
    expect(pattern.test('ApiKeyService on sqlite > creates a key')).toBe(true);
    expect(pattern.test('ApiKeyService on postgres > creates a key')).toBe(true);
    expect(pattern.test('ApiKeyService on mariadb > creates a key')).toBe(false);
    expect(pattern.test('per-key limits in Redis on express > shares a budget')).toBe(false);
    expect(pattern.test('the admin page in Chromium on fastify > searches')).toBe(false);
    expect(patternRunningOnlyPresent([])).toBeUndefined();
  });
});
