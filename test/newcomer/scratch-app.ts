import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  installPackedPackage,
  type PackedPackage,
  type ScratchInstall,
} from '../support/packed-package.js';
import { freePort } from '../support/services.js';

const run = promisify(execFile);

/** What the quick start has a newcomer install besides the library's required peers. */
const APP_PACKAGES = ['@nestjs/platform-express', 'bcrypt', 'better-sqlite3', 'pg', '@types/node'];

/** Where the TypeScript of today's `npm install -D typescript` is installed, once per day. */
const LATEST_TYPESCRIPT = join(
  tmpdir(),
  `nestjs-api-key-typescript-${new Date().toISOString().slice(0, 10)}`,
);

let latestTypeScript: Promise<string> | undefined;

/**
 * The folder of the TypeScript a newcomer gets today, installed from the registry as
 * `npm install -D typescript` would (7 as of December 2026), not the repository's pinned one.
 */
function typescriptFromRegistry(): Promise<string> {
  latestTypeScript ??= (async () => {
    const installed = join(LATEST_TYPESCRIPT, 'node_modules', 'typescript');
    if (!existsSync(join(installed, 'package.json'))) {
      await mkdir(LATEST_TYPESCRIPT, { recursive: true });
      await run(
        'npm',
        ['install', '--no-audit', '--no-fund', '--prefix', LATEST_TYPESCRIPT, 'typescript@latest'],
        { env: childEnv({}) },
      );
    }
    return installed;
  })();
  return latestTypeScript;
}

const START_TIMEOUT_MS = 30_000;

/** ESM, as the quick start says, or CommonJS, as its "CommonJS apps" says. */
export type ModuleKind = 'esm' | 'cjs';

/** A new app folder with the packed package installed, its `src/` written and compiled. */
export interface ScratchApp {
  dir: string;
  /** Runs the package's `bin` with these arguments in the app folder; resolves to its stdout. */
  cli(args: string[], env?: Record<string, string>): Promise<string>;
  /** Runs the installed `bin` named `command` in the app folder, as `npx`; resolves to its stdout. */
  npx(command: string, args: string[], env?: Record<string, string>): Promise<string>;
  /** Starts `node dist/main.js` on a free port and resolves once it answers HTTP. */
  start(env?: Record<string, string>): Promise<RunningApp>;
  remove(): Promise<void>;
}

export interface RunningApp {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** Sends SIGTERM, as Ctrl+C would, and waits for the process to end. */
  stop(): Promise<void>;
}

/**
 * The environment of a child process: nothing leaks in from the test runner, neither its module
 * setup nor its own variables (a Vitest the app runs must not think it is one of our workers).
 */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env.NODE_PATH;
  delete env.NODE_OPTIONS;
  for (const name of Object.keys(env)) if (name.startsWith('VITEST')) delete env[name];
  return env;
}

/**
 * Makes the app a newcomer would: the packed package installed, `package.json` with
 * `"type": "module"` for ESM (none for CommonJS), `tsconfig.json`, and the given `src/` files;
 * then compiles it with `tsc -p .`, against the installed package. `devPackages` are what a
 * page beyond the quick start has the newcomer install as well.
 *
 * @throws {Error} with the compiler's diagnostics when the files do not compile
 */
export async function scratchApp(
  packed: PackedPackage,
  kind: ModuleKind,
  tsconfig: object,
  sources: Map<string, string>,
  devPackages: string[] = [],
): Promise<ScratchApp> {
  const install = await installPackedPackage(packed, [...APP_PACKAGES, ...devPackages]);
  const { dir } = install;
  await symlink(await typescriptFromRegistry(), join(dir, 'node_modules', 'typescript'), 'dir');
  const manifest = {
    name: 'newcomer-app',
    private: true,
    ...(kind === 'esm' && { type: 'module' }),
  };
  await writeFile(join(dir, 'package.json'), JSON.stringify(manifest, null, 2));
  await writeFile(join(dir, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
  await mkdir(join(dir, 'src'));
  for (const [name, code] of sources) await writeFile(join(dir, 'src', name), code);
  const tsc = join(dir, 'node_modules', 'typescript', 'bin', 'tsc');
  try {
    await run(process.execPath, [tsc, '-p', dir], { cwd: dir, env: childEnv({}) });
  } catch (error) {
    await install.remove();
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`The ${kind} app does not compile:\n${stdout}${stderr}`, { cause: error });
  }
  return {
    dir,
    cli: (args, env = {}) => runBin(install, 'nestjs-api-key', args, env),
    npx: (command, args, env = {}) => runBin(install, command, args, env),
    start: (env = {}) => startApp(dir, env),
    remove: install.remove,
  };
}

/** The script of the installed package whose `bin` is named `command`, as npx finds it. */
async function binScript(modules: string, command: string): Promise<string> {
  const top = await readdir(modules);
  const packages = [
    ...top.filter((name) => !name.startsWith('@')),
    ...(
      await Promise.all(
        top
          .filter((scope) => scope.startsWith('@'))
          .map(async (scope) => (await readdir(join(modules, scope))).map((n) => `${scope}/${n}`)),
      )
    ).flat(),
  ].filter((name) => existsSync(join(modules, name, 'package.json')));
  for (const name of packages) {
    const { bin } = JSON.parse(await readFile(join(modules, name, 'package.json'), 'utf8')) as {
      bin?: string | Record<string, string>;
    };
    // A lone bin is named after the package, without its scope.
    const bins = typeof bin === 'string' ? { [name.split('/').pop()!]: bin } : (bin ?? {});
    if (bins[command]) return join(modules, name, bins[command]);
  }
  throw new Error(`No installed package has a bin named ${command}`);
}

/** Runs the installed `bin` named `command` with Node, in the app folder. */
async function runBin(
  install: ScratchInstall,
  command: string,
  args: string[],
  env: Record<string, string>,
): Promise<string> {
  const script = await binScript(join(install.dir, 'node_modules'), command);
  const { stdout } = await run(process.execPath, [script, ...args], {
    cwd: install.dir,
    env: childEnv(env),
  });
  return stdout;
}

/**
 * Starts the compiled app with PORT set, as `node dist/main.js`, and polls until it answers.
 *
 * @throws {Error} with its output when it exits first or does not answer in time
 */
async function startApp(dir: string, env: Record<string, string>): Promise<RunningApp> {
  const port = await freePort();
  const child = spawn(process.execPath, [join('dist', 'main.js')], {
    cwd: dir,
    env: childEnv({ ...env, PORT: String(port) }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline && child.exitCode === null) {
    const answered = await fetch(url).then(
      () => true,
      () => false,
    );
    if (answered) return { url, stop };
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  await stop();
  throw new Error(`The app did not answer on ${url}. Its output:\n${output}`);
}
