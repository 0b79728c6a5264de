// What the screenshot scripts share: the built sample app started on a port, and headless
// Chromium. Run `npm run build:sample` first.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

/** The repository root. */
export const root = fileURLToPath(new URL('..', import.meta.url));

/** Starts the sample app with `env` and resolves once it listens; `stop()` ends it and waits. */
export async function startSampleApp(env) {
  const app = spawn(process.execPath, [join(root, 'sample-app/dist/sample-app/main.js')], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise((done) => app.once('exit', done));
  await new Promise((ready, fail) => {
    app.stdout.on('data', (chunk) => String(chunk).includes('listening') && ready());
    app.on('exit', () => fail(new Error('the sample app stopped')));
  });
  return {
    stop: async () => {
      app.kill();
      await exited;
    },
  };
}

/** Headless Chromium from `CHROMIUM_PATH` (default `/usr/bin/chromium`). */
export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}
