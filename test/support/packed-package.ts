import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import {
  cp,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  rename,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Packs made from the same sources are shared by every test file and every run. */
const PACKS_DIR = join(tmpdir(), 'nestjs-api-key-packs');

/** Files that `npm pack` may need besides the sources; the manifest's `files` decides. */
const ROOT_FILES = [
  'package.json',
  'tsconfig.json',
  'tsconfig.build.json',
  'README.md',
  'LICENSE',
  'bench/README.md',
  'sample-app/README.md',
  'CONTRIBUTING.md',
];

/** Folders copied whole: the sources, and the docs and bench results the README links to. */
const FOLDERS = ['lib', 'docs', 'bench/results'];

/** The manifest fields the package tests read. */
export interface PackageManifest {
  name: string;
  bin?: Record<string, string>;
  exports: Record<string, string | Record<string, string>>;
  peerDependencies: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  scripts?: Record<string, string>;
}

/** The package as `npm pack` makes it from the current sources. */
export interface PackedPackage {
  tarball: string;
  /** Paths inside the package, such as `dist/index.js`, without the tarball's `package/` folder. */
  files: string[];
  manifest: PackageManifest;
}

/** A scratch project with the packed package installed and only the required peers beside it. */
export interface ScratchInstall {
  dir: string;
  /** Runs `source` with Node in the scratch project, as a `.mjs` or `.cjs` file; resolves to its stdout. */
  node(source: string, kind: 'esm' | 'cjs'): Promise<string>;
  remove(): Promise<void>;
}

let packing: Promise<PackedPackage> | undefined;

/**
 * Packs the package with `npm pack`, whose `prepack` builds it, in a copy of the sources,
 * so the repository's own `dist` is never touched. Done once per state of the sources: the
 * tarball is cached by a hash of everything that goes into it.
 */
export function packPackage(): Promise<PackedPackage> {
  packing ??= packOnce();
  return packing;
}

async function packOnce(): Promise<PackedPackage> {
  const key = await sourceHash();
  const packDir = join(PACKS_DIR, key);
  if (!existsSync(join(packDir, 'files.json'))) await buildAndPack(packDir);
  const [tarball] = (await readdir(packDir)).filter((file) => file.endsWith('.tgz'));
  return {
    tarball: join(packDir, tarball),
    files: JSON.parse(await readFile(join(packDir, 'files.json'), 'utf8')),
    manifest: JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')),
  };
}

async function buildAndPack(packDir: string): Promise<void> {
  await mkdir(PACKS_DIR, { recursive: true });
  await removeStalePacks();
  const staging = await mkdtemp(join(PACKS_DIR, 'staging-'));
  try {
    const source = join(staging, 'source');
    const output = join(staging, 'pack');
    await mkdir(output, { recursive: true });
    for (const file of ROOT_FILES) await cp(join(REPO_ROOT, file), join(source, file));
    for (const folder of FOLDERS) {
      await cp(join(REPO_ROOT, folder), join(source, folder), { recursive: true });
    }
    await symlink(join(REPO_ROOT, 'node_modules'), join(source, 'node_modules'), 'dir');
    // No build first: `prepack` builds, as it does for anyone packing a fresh clone.
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', output], {
      cwd: source,
    });
    // The build's own output comes first; the report is the JSON array after it.
    const [report] = JSON.parse(stdout.slice(stdout.indexOf('\n[') + 1)) as [
      { files: { path: string }[] },
    ];
    await writeFile(
      join(output, 'files.json'),
      JSON.stringify(report.files.map((file) => file.path)),
    );
    // Another test file may have packed the same sources meanwhile; either copy will do.
    await rename(output, packDir).catch((error: NodeJS.ErrnoException) => {
      if (!existsSync(join(packDir, 'files.json'))) throw error;
    });
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** Packs of sources changed more than a day ago are of no more use. */
async function removeStalePacks(): Promise<void> {
  for (const entry of await readdir(PACKS_DIR)) {
    const path = join(PACKS_DIR, entry);
    if (Date.now() - (await stat(path)).mtimeMs > 86_400_000) {
      await rm(path, { recursive: true, force: true });
    }
  }
}

async function sourceHash(): Promise<string> {
  const hash = createHash('sha256');
  const sources: string[] = [];
  for (const folder of FOLDERS.map((name) => join(REPO_ROOT, name))) {
    for (const file of await readdir(folder, { recursive: true, withFileTypes: true })) {
      if (file.isFile() && !file.name.endsWith('.spec.ts'))
        sources.push(join(file.parentPath, file.name));
    }
  }
  for (const file of [...ROOT_FILES.map((name) => join(REPO_ROOT, name)), ...sources.sort()]) {
    hash
      .update(relative(REPO_ROOT, file))
      .update('\0')
      .update(await readFile(file))
      .update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}

/** The peers an app must install: every peer dependency not marked optional. */
export function requiredPeers(manifest: PackageManifest): string[] {
  return Object.keys(manifest.peerDependencies).filter(
    (name) => !manifest.peerDependenciesMeta?.[name]?.optional,
  );
}

/**
 * Installs the tarball into a new scratch project the way npm would (the package has no
 * dependencies), with each required peer linked from the repository's `node_modules`, and the
 * packages of `alsoInstalled` (an app's own, such as `@nestjs/platform-express`), and nothing
 * else: optional peers are missing unless listed there, as in an app that did not install them
 * (list `Object.keys(manifest.peerDependencies)` for an app that uses every integration).
 * A linked package's own dependencies resolve from its real path, in the repository.
 */
export async function installPackedPackage(
  packed: PackedPackage,
  alsoInstalled: string[] = [],
): Promise<ScratchInstall> {
  const dir = await mkdtemp(join(tmpdir(), 'nestjs-api-key-scratch-'));
  const modules = join(dir, 'node_modules');
  const installed = join(modules, packed.manifest.name);
  await mkdir(installed, { recursive: true });
  await run('tar', ['-xzf', packed.tarball, '-C', installed, '--strip-components=1']);
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'scratch', private: true }));
  for (const peer of new Set([...requiredPeers(packed.manifest), ...alsoInstalled])) {
    await mkdir(dirname(join(modules, peer)), { recursive: true });
    await symlink(join(REPO_ROOT, 'node_modules', peer), join(modules, peer), 'dir');
  }
  let scripts = 0;
  return {
    dir,
    async node(source, kind) {
      const file = join(dir, `script-${++scripts}.${kind === 'esm' ? 'mjs' : 'cjs'}`);
      await writeFile(file, source);
      const env = { ...process.env };
      // Nothing may leak in from the test runner: no module search path, no loader hooks.
      delete env.NODE_PATH;
      delete env.NODE_OPTIONS;
      const { stdout } = await run(process.execPath, [file], { cwd: dir, env });
      return stdout;
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
