// Takes the README's screenshot of the key admin page: starts the sample app on a scratch SQLite
// file, makes a few keys in the page, and saves docs/admin-page.png. Run `npm run build:sample` first.
// Usage: node scripts/admin-screenshot.mjs [output.png]
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { launchChromium, root, startSampleApp } from './screenshot-support.mjs';

const output = resolve(process.argv[2] ?? join(root, 'docs/admin-page.png'));
const scratch = mkdtempSync(join(tmpdir(), 'admin-screenshot-'));
const port = 3917;
const app = await startSampleApp({
  PORT: String(port),
  DATABASE_URL: `sqlite:${join(scratch, 's.sqlite')}`,
});
const browser = await launchChromium();
try {
  const context = await browser.newContext({
    httpCredentials: { username: 'admin', password: 'demo-admin-password' },
    viewport: { width: 1100, height: 760 },
  });
  const page = await context.newPage();
  await page.goto(`http://127.0.0.1:${port}/admin/keys`);
  for (const [name, scopes, expires] of [
    ['billing service', 'invoices:read, invoices:write', '90d'],
    ['ci deploys', 'deploy', ''],
    ['old importer', 'projects:read', ''],
  ]) {
    await page.getByLabel('Name', { exact: true }).fill(name);
    await page.getByLabel('Scopes', { exact: true }).fill(scopes);
    await page.getByLabel('Expires', { exact: true }).fill(expires);
    await page.getByRole('button', { name: 'Create key' }).click();
    await page.getByRole('row').filter({ hasText: name }).waitFor();
  }
  const row = page.getByRole('row').filter({ hasText: 'old importer' });
  await row.getByRole('button', { name: 'Revoke', exact: true }).click();
  await page.getByRole('button', { name: 'Revoke key' }).click();
  await page.getByRole('row').filter({ hasText: 'Revoked' }).waitFor();
  mkdirSync(dirname(output), { recursive: true });
  await page.screenshot({ path: output, fullPage: true });
  process.stdout.write(`Saved ${output}\n`);
} finally {
  await browser.close();
  await app.stop();
  rmSync(scratch, { recursive: true, force: true });
}
