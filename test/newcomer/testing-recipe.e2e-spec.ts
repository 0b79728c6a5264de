import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packPackage, REPO_ROOT, type PackedPackage } from '../support/packed-package.js';
import { blocksOf, quickStartTsconfig, shellWords, sourceFiles } from './readme-walk.js';
import { scratchApp, type ScratchApp } from './scratch-app.js';

/**
 * docs/testing.md, done as it says in the quick start's app made from the packed package: the
 * packages its `npm install -D` names (and no others) installed beside the quick start's, its
 * spec and `tsconfig.json` saved where it says, and its commands run: `tsc` type-checks the spec
 * against the installed package with today's TypeScript, and every test of the spec must pass.
 */

const PAGE = 'docs/testing.md';
const page = readFileSync(join(REPO_ROOT, PAGE), 'utf8');
const recipe = blocksOf(PAGE);
const quickStart = blocksOf('README.md', 'quick-start');

/** The code of the page's one block in `language`, of those that contain `text`. */
function onlyBlock(language: string, text = ''): string {
  const found = recipe.filter((block) => block.language === language && block.code.includes(text));
  expect(found, `${PAGE}: one ${language} block with "${text}"`).toHaveLength(1);
  return found[0].code.trim();
}

describe('docs/testing.md, followed in the quick start app', () => {
  let packed: PackedPackage;
  let app: ScratchApp | undefined;

  beforeAll(async () => {
    packed = await packPackage();
  }, 300_000);

  afterAll(() => app?.remove());

  it('installs what it says, and its spec compiles and passes where it says to save it', async () => {
    const { words: install } = shellWords(onlyBlock('bash', 'npm install -D'));
    const devPackages = install.slice(install.indexOf('-D') + 1);
    expect(devPackages).toContain('@nestjs/testing');
    const [[name, spec]] = [...sourceFiles(recipe)];
    expect(page).toContain(`Save this as \`test/${name}\``);
    expect(page).toContain('as `test/tsconfig.json`:');

    app = await scratchApp(
      packed,
      'esm',
      quickStartTsconfig(quickStart, 'esm'),
      sourceFiles(quickStart),
      devPackages,
    );
    await mkdir(join(app.dir, 'test'));
    await writeFile(join(app.dir, 'test', name), spec);
    await writeFile(join(app.dir, 'test', 'tsconfig.json'), onlyBlock('json'));

    let report = '';
    for (const command of onlyBlock('bash', 'npx vitest').split('&&')) {
      const [npx, bin, ...args] = shellWords(command.trim()).words;
      expect(npx).toBe('npx');
      // Rejects with the command's output when it fails: a type error, a failing test.
      report = await app.npx(bin, args);
    }
    const tests = spec.match(/^it\(/gm)?.length ?? 0;
    expect(tests).toBeGreaterThanOrEqual(3);
    // Vitest colours its report when the runner that started this test does.
    expect(stripVTControlCharacters(report)).toMatch(
      new RegExp(`Tests\\s+${tests} passed \\(${tests}\\)`),
    );
    expect(report).toContain(join('test', name));
  }, 180_000);
});
