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
import {
  blocksOf,
  quickStartTsconfig,
  shellWords,
  sourceFiles,
  walk,
  walkedCommands,
  withDiffApplied,
} from './readme-walk.js';
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

const tsconfigFor = (kind: ModuleKind) => quickStartTsconfig(quickStart, kind);

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

  /**
   * The quick start's files, plus `extra`, on SQLite as printed or on PostgreSQL as its diff
   * says, with the environment the app and the CLI then need.
   */
  async function appFiles(
    engine: 'sqlite' | 'postgres',
    extra: Map<string, string> = new Map(),
  ): Promise<{
    sources: Map<string, string>;
    env: Record<string, string>;
    database?: SampleDatabase;
  }> {
    const sources = new Map([...sourceFiles(quickStart), ...extra]);
    if (engine === 'sqlite') return { sources, env: {} };
    const database = track(await createSampleDatabase('postgres'));
    return {
      sources: withDiffApplied(sources, quickStart, 'data-source.ts'),
      env: { DATABASE_URL: database.url },
      database,
    };
  }

  for (const [kind, engine] of [
    ['esm', 'sqlite'],
    ['cjs', 'sqlite'],
    ['esm', 'postgres'],
  ] as const) {
    it(`goes from the quick start to a 200, and to a 401 once the key is revoked (${kind}, ${engine})`, async () => {
      const { sources, env, database } = await appFiles(engine);
      const app = track(await scratchApp(packed, kind, tsconfigFor(kind), sources));
      const steps = await walk(app, walkedCommands(quickStart), env);
      expect(steps.filter((step) => step.status).map((step) => step.status)).toEqual([200, 401]);
      // The app and the CLI worked on PostgreSQL, not on a SQLite file beside them.
      if (database) expect(await database.rows('api_keys', ['name'])).toEqual([{ name: 'first' }]);
    }, 180_000);
  }

  for (const engine of ['sqlite', 'postgres'] as const) {
    it(`runs the custom entity example: the handler sees the calling partner's id (${engine})`, async () => {
      const { sources, env } = await appFiles(engine, sourceFiles(customEntities));
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
