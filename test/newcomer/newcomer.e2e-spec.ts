import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSampleDatabase, type SampleDatabase } from '../support/sample-app.js';
import {
  packPackage,
  REPO_ROOT,
  requiredPeers,
  type PackedPackage,
} from '../support/packed-package.js';
import { blocksOf, shellWords, sourceFiles, walk, walkedCommands } from './readme-walk.js';
import { scratchApp, type ModuleKind, type ScratchApp } from './scratch-app.js';

/**
 * A newcomer's first hour, from the packed package: the README's quick start and
 * docs/custom-entities.md, their files written as they are printed into a new app folder,
 * compiled with `tsc` against the installed tarball, run, and walked command by command as
 * their `bash` blocks say (`npx nestjs-api-key …`, `curl …` with the answers their comments
 * promise). In ESM, as printed, and in CommonJS, as the README's "CommonJS apps" says.
 */

const quickStart = blocksOf('README.md', 'quick-start');
const customEntities = blocksOf('docs/custom-entities.md');

/** The quick start's `tsconfig.json`, changed for CommonJS as "CommonJS apps" says. */
function tsconfigFor(kind: ModuleKind): { compilerOptions: Record<string, unknown> } {
  const printed = quickStart.find((block) => block.language === 'json');
  const tsconfig = JSON.parse(printed!.code) as { compilerOptions: Record<string, unknown> };
  if (kind === 'cjs') {
    tsconfig.compilerOptions.module = 'commonjs';
    delete tsconfig.compilerOptions.moduleResolution;
  }
  return tsconfig;
}

describe('a newcomer following the README', () => {
  let packed: PackedPackage;
  const cleanup: (() => Promise<void>)[] = [];
  const track = <T extends ScratchApp | SampleDatabase>(made: T): T => {
    cleanup.push('remove' in made ? made.remove : made.drop);
    return made;
  };

  beforeAll(async () => {
    packed = await packPackage();
  }, 300_000);

  afterEach(async () => {
    for (const step of cleanup.splice(0)) await step();
  });

  it('installs every package the app uses, and gets the LICENSE with the package', () => {
    const installed = quickStart
      .filter((block) => block.language === 'bash' && block.code.includes('npm install'))
      .flatMap((block) => shellWords(block.code.replace(/\\\n/g, ' ')).words);
    for (const name of [
      ...requiredPeers(packed.manifest),
      'nestjs-api-key',
      'bcrypt',
      '@nestjs/platform-express',
      'better-sqlite3',
      'typescript',
      '@types/node',
    ]) {
      expect(installed, name).toContain(name);
    }
    expect(packed.files).toContain('LICENSE');
  });

  it('says how a CommonJS app changes its tsconfig, as this test changes it', () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    const commonJs = readme.slice(readme.indexOf('### CommonJS apps'), readme.indexOf('## Keys'));
    expect(commonJs).toContain(
      'no `"type": "module"`, `"module": "commonjs"` and no\n`moduleResolution`',
    );
  });

  for (const kind of ['esm', 'cjs'] as const) {
    it(`goes from the quick start to a 200, and to a 401 once the key is revoked (${kind})`, async () => {
      const app = track(await scratchApp(packed, kind, tsconfigFor(kind), sourceFiles(quickStart)));
      const steps = await walk(app, walkedCommands(quickStart));
      expect(steps.filter((step) => step.status).map((step) => step.status)).toEqual([200, 401]);
    }, 180_000);
  }

  for (const engine of ['sqlite', 'postgres'] as const) {
    it(`runs the custom entity example: the handler sees the calling partner's id (${engine})`, async () => {
      const sources = new Map([...sourceFiles(quickStart), ...sourceFiles(customEntities)]);
      const env: Record<string, string> = {};
      if (engine === 'postgres') {
        const database = track(await createSampleDatabase('postgres'));
        // As the quick start's data-source.ts comment says, for PostgreSQL.
        const dataSource = sources.get('data-source.ts')!;
        const onPostgres = dataSource.replace(
          "type: 'better-sqlite3',\n  database: 'app.sqlite',",
          "type: 'postgres',\n  url: process.env.DATABASE_URL,",
        );
        expect(onPostgres).not.toBe(dataSource);
        sources.set('data-source.ts', onPostgres);
        env.DATABASE_URL = database.url;
      }
      const app = track(await scratchApp(packed, 'esm', tsconfigFor('esm'), sources));
      const steps = await walk(app, walkedCommands(customEntities), env);
      const [onboarded, called] = steps.filter((step) => step.status);
      expect(onboarded.status).toBe(201);
      expect(steps.filter((step) => step.status).map((step) => step.status)).toEqual([
        201, 200, 401, 401,
      ]);
      expect(called.body).toEqual({
        partnerId: (onboarded.body as { partnerId: string }).partnerId,
        orders: [],
      });
    }, 180_000);
  }
});
