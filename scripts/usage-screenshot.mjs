// Takes the screenshot of one key's usage chart in docs/: starts the sample app on a scratch
// SQLite file, makes a key with the CLI, sends it requests of every kind, adds four weeks of
// made-up history to api_key_usage (so the chart has days to show), and saves the usage panel
// of the admin page as docs/usage-chart.png. Run `npm run build:sample` first.
// Usage: node scripts/usage-screenshot.mjs [output.png]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { launchChromium, root, startSampleApp } from './screenshot-support.mjs';

const output = resolve(process.argv[2] ?? join(root, 'docs/usage-chart.png'));
const scratch = mkdtempSync(join(tmpdir(), 'usage-screenshot-'));
const file = join(scratch, 's.sqlite');
const env = { ...process.env, PORT: '3918', DATABASE_URL: `sqlite:${file}` };
const app = await startSampleApp(env);
const browser = await launchChromium();
try {
  const cli = (...args) =>
    execFileSync(
      process.execPath,
      [
        join(root, 'sample-app/dist/lib/cli/main.js'),
        '--data-source',
        join(root, 'sample-app/dist/sample-app/data-source.js'),
        ...args,
      ],
      { env, encoding: 'utf8' },
    );
  const { id, key } = JSON.parse(
    cli('create', '--name', 'billing service', '--scopes', 'projects:read', '--json')
      .trim()
      .split('\n')
      .at(-1),
  );
  const send = (method, secret) =>
    fetch('http://127.0.0.1:3918/projects', {
      method,
      headers: { authorization: `Api-Key ${secret}`, 'content-type': 'application/json' },
      body: method === 'POST' ? '{"name":"x"}' : undefined,
    });
  for (let i = 0; i < 40; i++) await send('GET', key);
  for (let i = 0; i < 6; i++) await send('POST', key);
  const history = new Database(file);
  const today = Math.floor(Date.now() / 86_400_000) * 24;
  const add = history.prepare(
    "INSERT INTO api_key_usage (registration, key_id, hour, outcome, requests) VALUES ('default', ?, ?, ?, ?)",
  );
  for (let day = 1; day < 30; day++) {
    const hour = today - day * 24 + 12;
    const weekday = (Math.floor(hour / 24) + 4) % 7 < 5;
    add.run(id, hour, 'ok', Math.round((weekday ? 300 : 90) * (1 + Math.sin(day) / 4)));
    if (day % 3 === 0) add.run(id, hour, 'forbidden', 12 + (day % 5));
    if (day % 4 === 1) add.run(id, hour, 'rate_limited', 20 + day);
    if (day === 9 || day === 10) add.run(id, hour, 'unauthorized', 60);
  }
  history.close();
  const context = await browser.newContext({
    httpCredentials: { username: 'admin', password: 'demo-admin-password' },
    viewport: { width: 1100, height: 900 },
  });
  const page = await context.newPage();
  await page.goto('http://127.0.0.1:3918/admin/keys');
  const row = page.getByRole('row').filter({ hasText: 'billing service' });
  await row.getByRole('button', { name: 'Usage' }).click();
  await page.getByRole('img', { name: /^Usage of billing service/ }).waitFor();
  await page.locator('#usage-panel').screenshot({ path: output });
  process.stdout.write(`Saved ${output}\n`);
} finally {
  await browser.close();
  await app.stop();
  rmSync(scratch, { recursive: true, force: true });
}
