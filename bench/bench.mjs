#!/usr/bin/env node
// `npm run bench`: compiles lib and bench into bench/.build (inside the repo, so the
// compiled files resolve node_modules and the package's "type": "module"), runs the
// orchestrator, and removes the build whatever happens. `node bench/bench.mjs instructions`
// (`npm run bench:instructions`) runs the instruction counts of bench/harness/instructions.ts instead,
// and `--same-process` (`npm run bench -- --same-process`) the same-process row set alone.
// and `node bench/bench.mjs usage-memory` the memory of usage analytics (bench/harness/usage-memory.ts).
import { spawn, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const buildDir = path.join(benchDir, '.build');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

rmSync(buildDir, { recursive: true, force: true });
const compiled = spawnSync(process.execPath, [tsc, '-p', path.join(benchDir, 'tsconfig.json')], {
  stdio: 'inherit',
});
if (compiled.status !== 0) {
  rmSync(buildDir, { recursive: true, force: true });
  console.error('bench: TypeScript compilation failed.');
  process.exit(compiled.status ?? 1);
}

// `lockout` runs bench/rows/lockout.ts, issue 25's timed flood, with the arguments that follow;
// `--same-process` runs issue 26's row set (bench/harness/same-process.ts); `usage-memory` and
// `usage-instructions` measure usage analytics (issue 28).
const entries = {
  instructions: 'harness/instructions.js',
  lockout: 'rows/lockout.js',
  '--same-process': 'harness/same-process.js',
  'usage-memory': 'harness/usage-memory.js',
  'usage-instructions': 'harness/usage-instructions.js',
};
const entry = entries[process.argv[2]] ?? 'harness/run.js';
// --expose-gc: the usage-memory measurement collects garbage before each reading.
const run = spawn(
  process.execPath,
  ['--expose-gc', path.join(buildDir, 'bench', entry), ...process.argv.slice(3)],
  {
    stdio: 'inherit',
    env: { BENCH_OUT: benchDir, ...process.env },
  },
);
// The orchestrator cleans up its apps and databases on these signals; pass them on and wait for it.
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => run.kill(signal));
run.on('exit', (code, signal) => {
  rmSync(buildDir, { recursive: true, force: true });
  process.exit(code ?? (signal ? 1 : 0));
});
