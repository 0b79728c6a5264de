import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  installPackedPackage,
  packPackage,
  requiredPeers,
  type PackedPackage,
  type ScratchInstall,
} from '../support/packed-package.js';

const run = promisify(execFile);

/** Building and packing take a while on a busy machine; later runs reuse the pack. */
const PACK_TIMEOUT = 300_000;

let packed: PackedPackage;
let scratch: ScratchInstall;

beforeAll(async () => {
  packed = await packPackage();
  scratch = await installPackedPackage(packed);
}, PACK_TIMEOUT);
afterAll(() => scratch?.remove());

/** Every file an `exports` entry points at, with the subpath it serves. */
function exportTargets(): { subpath: string; condition: string; target: string }[] {
  return Object.entries(packed.manifest.exports).flatMap(([subpath, entry]) =>
    typeof entry === 'string'
      ? [{ subpath, condition: 'default', target: entry }]
      : Object.entries(entry).map(([condition, target]) => ({ subpath, condition, target })),
  );
}

/** The subpaths of the optional integrations: `./<folder>` for each folder of lib/. */
function integrationSubpaths(): string[] {
  return Object.keys(packed.manifest.exports).filter(
    (subpath) => subpath !== '.' && subpath !== './package.json',
  );
}

/** What `typeof require()` gives for each subpath, in a scratch install. */
async function loaded(install: ScratchInstall, subpaths: string[]): Promise<string[]> {
  const output = await install.node(
    `require('reflect-metadata');
    const loaded = ${JSON.stringify(subpaths.map(specifier))}.map((name) => typeof require(name));
    console.log(JSON.stringify(loaded));`,
    'cjs',
  );
  return JSON.parse(output);
}

/** The specifier an app imports a subpath by, e.g. `nestjs-api-key/admin`. */
function specifier(subpath: string): string {
  return posix.join(packed.manifest.name, subpath);
}

describe('the packed package', () => {
  it('ships the built library, its sources and README, and no tests', () => {
    expect(packed.files).toEqual(
      expect.arrayContaining(['package.json', 'README.md', 'dist/index.js', 'dist/index.d.ts']),
    );
    expect(
      packed.files.filter((file) => /\.spec\.|^test\/|(^|\/)node_modules\//.test(file)),
    ).toEqual([]);
  });

  it('is built by prepack and ships the docs the README links to', () => {
    // The pack was made from a copy of the sources without dist/: only prepack could build it.
    expect(packed.manifest.scripts?.prepack).toBe('npm run build');
    expect(packed.files).toEqual(
      expect.arrayContaining(['dist/index.js', 'docs/configuration.md', 'docs/testing.md']),
    );
  });

  it("ships the admin page's assets beside the built admin module", () => {
    expect(packed.files).toEqual(
      expect.arrayContaining([
        'dist/admin/assets/admin.html',
        'dist/admin/assets/admin.js',
        'dist/admin/assets/admin-shared.js',
        'dist/admin/assets/admin-dialogs.js',
        'dist/admin/assets/admin.css',
      ]),
    );
  });

  it('has every file its exports and bin point at, with types for every export but package.json', () => {
    for (const { target } of exportTargets()) {
      expect(packed.files, target).toContain(posix.normalize(target));
    }
    for (const [subpath, entry] of Object.entries(packed.manifest.exports)) {
      if (subpath === './package.json') continue;
      expect(entry, subpath).toHaveProperty('types');
    }
    for (const bin of Object.values(packed.manifest.bin ?? {})) {
      expect(packed.files).toContain(posix.normalize(bin));
    }
  });

  it('ships the sources of every source map it ships', async () => {
    const maps = packed.files.filter((file) => file.endsWith('.map'));
    expect(maps).toContain('dist/index.js.map');
    expect(maps).toContain('dist/index.d.ts.map');
    const { stdout } = await run('tar', ['-xzOf', packed.tarball, 'package/dist/index.js.map']);
    expect(JSON.parse(stdout).sources).toEqual(['../lib/index.ts']);
    for (const map of maps) {
      const { sources } = JSON.parse(
        await readFile(join(scratch.dir, 'node_modules', packed.manifest.name, map), 'utf8'),
      ) as { sources: string[] };
      for (const source of sources) {
        expect(packed.files, `${map} maps ${source}`).toContain(
          posix.join(posix.dirname(map), source),
        );
      }
    }
  });
});

describe('installed with only its required peers', () => {
  it('has no optional peer to load, so the checks below prove the library loads without them', async () => {
    const optional = Object.keys(packed.manifest.peerDependencies).filter(
      (name) => !requiredPeers(packed.manifest).includes(name),
    );
    expect(optional).toContain('bcrypt');
    const resolvable = await scratch.node(
      `const found = ${JSON.stringify(optional)}.filter((name) => { try { require.resolve(name); return true; } catch { return false; } });
      console.log(JSON.stringify(found));`,
      'cjs',
    );
    expect(JSON.parse(resolvable)).toEqual([]);
  });

  it('is imported from ESM', async () => {
    const output = await scratch.node(
      `import 'reflect-metadata';
      const api = await import(${JSON.stringify(packed.manifest.name)});
      console.log(JSON.stringify(Object.keys(api)));`,
      'esm',
    );
    expect(JSON.parse(output)).toEqual(
      expect.arrayContaining(['ApiKeyModule', 'ApiKeyGuard', 'ApiKeyService', 'AbstractApiKey']),
    );
  });

  it('is required from CommonJS', async () => {
    const output = await scratch.node(
      `require('reflect-metadata');
      const api = require(${JSON.stringify(packed.manifest.name)});
      console.log(JSON.stringify(Object.keys(api)));`,
      'cjs',
    );
    expect(JSON.parse(output)).toEqual(
      expect.arrayContaining(['ApiKeyModule', 'ApiKeyGuard', 'ApiKeyService', 'AbstractApiKey']),
    );
  });

  it('loads every subpath but the integrations, which need their optional peers', async () => {
    const subpaths = Object.keys(packed.manifest.exports).filter(
      (subpath) => !integrationSubpaths().includes(subpath),
    );
    expect(subpaths).toContain('.');
    expect(await loaded(scratch, subpaths)).toEqual(subpaths.map(() => 'object'));
  });

  it('hashes with HMAC without bcrypt, and refuses bcrypt at boot naming the fix', async () => {
    const output = await scratch.node(
      `import 'reflect-metadata';
      import {
        API_KEY_MODULE_OPTIONS, ApiKeyModule, BcryptApiKeyHasher, HmacSha256ApiKeyHasher,
      } from ${JSON.stringify(packed.manifest.name)};
      const hmac = new HmacSha256ApiKeyHasher({ secret: 'x'.repeat(32) });
      const optionsOf = (module) =>
        module.providers.find((provider) => provider.provide === API_KEY_MODULE_OPTIONS).useFactory();
      const failure = (attempt) => { try { attempt(); return null; } catch (error) { return error.message; } };
      console.log(JSON.stringify({
        hmac: await hmac.verify('key', await hmac.hash('key')),
        hmacBoot: failure(() => optionsOf(ApiKeyModule.forRoot({ hasher: hmac }))),
        defaultBoot: failure(() => optionsOf(ApiKeyModule.forRoot())),
        bcryptHash: await new BcryptApiKeyHasher().hash('key').then(() => null, (error) => error.message),
      }));`,
      'esm',
    );
    const result = JSON.parse(output);
    expect(result.hmac).toBe(true);
    expect(result.hmacBoot).toBeNull();
    for (const message of [result.defaultBoot, result.bcryptHash]) {
      expect(message).toContain('BcryptApiKeyHasher needs the bcrypt package');
      expect(message).toContain('npm install bcrypt');
    }
  });
});

describe('installed with its optional peers', () => {
  let full: ScratchInstall;
  beforeAll(async () => {
    full = await installPackedPackage(packed, Object.keys(packed.manifest.peerDependencies));
  }, PACK_TIMEOUT);
  afterAll(() => full?.remove());

  it('loads every subpath it exports, the integrations included', async () => {
    const subpaths = Object.keys(packed.manifest.exports);
    expect(subpaths).toEqual(expect.arrayContaining(['./swagger', './throttler']));
    expect(await loaded(full, subpaths)).toEqual(subpaths.map(() => 'object'));
  });
});
