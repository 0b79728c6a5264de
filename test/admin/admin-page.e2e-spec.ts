import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiKeyAdminEvent } from '../../lib/admin/index.js';
import { launchBrowser } from '../support/browser.js';
import { ADAPTERS, call, startOnNewDatabase, type AppOnNewDatabase } from '../support/http.js';

import { AdminTestModule } from './admin.app.js';

const CREDENTIALS = { username: 'admin', password: 'secret' };

let browser: Browser;
beforeAll(async () => {
  browser = await launchBrowser();
});
afterAll(() => browser?.close());

describe.each(ADAPTERS)('the admin page in Chromium on %s', (_platform, adapter) => {
  let started: AppOnNewDatabase;
  let context: BrowserContext;
  let page: Page;
  let now = new Date();
  const ping = async (key: string) =>
    (await call(`${started.url}/ping`, { headers: { authorization: `Api-Key ${key}` } })).status;

  /** Creates a key in the page and returns it as read from "New API key". */
  async function createInPage(name: string, scopes = ''): Promise<string> {
    await page.getByLabel('Name', { exact: true }).fill(name);
    await page.getByLabel('Scopes', { exact: true }).fill(scopes);
    await page.getByRole('button', { name: 'Create key' }).click();
    const field = page.getByRole('textbox', { name: 'New API key' });
    await expect.poll(() => field.inputValue()).toMatch(/\./);
    const key = await field.inputValue();
    await page.getByRole('button', { name: 'Done' }).click();
    return key;
  }
  const rowOf = (name: string) => page.getByRole('row').filter({ hasText: name });

  beforeAll(async () => {
    started = await startOnNewDatabase('sqlite', adapter, (database) =>
      AdminTestModule.register(database, { listened: [] as ApiKeyAdminEvent[] }, () => now),
    );
    context = await browser.newContext({ httpCredentials: CREDENTIALS });
    page = await context.newPage();
    await page.goto(`${started.url}/admin/keys`);
  });
  afterAll(async () => {
    await context?.close();
    await started?.stop();
  });

  it('answers 401 with a Basic challenge without credentials', async () => {
    const response = await call(`${started.url}/admin/keys`);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/^Basic/);
  });

  it('serves the page with a strict CSP', async () => {
    const response = await page.reload();
    const csp = response?.headers()['content-security-policy'] ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
  });

  it('serves the files the page loads with their types, and no other file', async () => {
    const auth = Buffer.from(`${CREDENTIALS.username}:${CREDENTIALS.password}`).toString('base64');
    const asset = (file: string) =>
      call(`${started.url}/admin/keys/assets/${file}`, {
        headers: { authorization: `Basic ${auth}` },
      });
    for (const [file, type] of [
      ['admin.js', 'text/javascript'],
      ['admin-shared.js', 'text/javascript'],
      ['admin-dialogs.js', 'text/javascript'],
      ['admin-usage.js', 'text/javascript'],
      ['admin.css', 'text/css'],
    ]) {
      const response = await asset(file);
      expect(response.status, file).toBe(200);
      expect(response.headers.get('content-type'), file).toMatch(new RegExp(`^${type};`));
      expect(response.headers.get('x-content-type-options'), file).toBe('nosniff');
    }
    for (const file of ['admin.html', 'missing.js', '..%2Fadmin.assets.js', 'constructor'])
      expect((await asset(file)).status, file).toBe(404);
  });

  it('creates a key that calls a guarded route, then revokes it behind a confirmation', async () => {
    const key = await createInPage('page key', 'projects:read');
    expect(await ping(key)).toBe(200);
    const row = rowOf('page key');
    await expect.poll(() => row.count()).toBe(1);
    await row.getByRole('button', { name: 'Revoke', exact: true }).click();
    const dialog = page.getByRole('dialog');
    await expect.poll(() => dialog.textContent()).toContain('cannot be undone');
    await dialog.getByRole('button', { name: 'Revoke key' }).click();
    await expect.poll(() => row.textContent()).toContain('Revoked');
    expect(await ping(key)).toBe(401);
    // A revoked key can no longer change; its usage can still be looked at.
    expect(await row.getByRole('button').allInnerTexts()).toEqual(['Usage']);
  });

  it('takes an expiry in the field labelled Expires, and shows the new key with a Copy button', async () => {
    await page.getByLabel('Name', { exact: true }).fill('expiring key');
    await page.getByLabel('Expires', { exact: true }).fill('30d');
    await page.getByRole('button', { name: 'Create key' }).click();
    const field = page.getByRole('textbox', { name: 'New API key' });
    await expect.poll(() => field.inputValue()).toMatch(/\./);
    expect(await page.getByRole('button', { name: 'Copy', exact: true }).count()).toBe(1);
    await page.getByRole('button', { name: 'Done' }).click();
    const row = rowOf('expiring key');
    await expect.poll(() => row.count()).toBe(1);
    // Never used, but expiring: "Never" appears once (last used), not twice.
    expect((await row.textContent())!.match(/Never/g)).toHaveLength(1);
  });

  it('creates a key with Allowed IPs and Uses, shows its credits, and disables then enables it', async () => {
    await page.getByLabel('Name', { exact: true }).fill('policy key');
    await page.getByLabel('Allowed IPs', { exact: true }).fill('127.0.0.1/32, ::1');
    await page.getByLabel('Uses', { exact: true }).fill('5');
    await page.getByRole('button', { name: 'Create key' }).click();
    const field = page.getByRole('textbox', { name: 'New API key' });
    await expect.poll(() => field.inputValue()).toMatch(/\./);
    const key = await field.inputValue();
    await page.getByRole('button', { name: 'Done' }).click();
    const row = rowOf('policy key');
    await expect.poll(() => row.count()).toBe(1);
    expect(await ping(key)).toBe(200);
    await page.reload();
    await expect.poll(() => row.textContent()).toContain('4');
    await row.getByRole('button', { name: 'Disable', exact: true }).click();
    await expect.poll(() => row.textContent()).toContain('Disabled');
    expect(await ping(key)).toBe(401);
    expect(await row.getByRole('button', { name: 'Rotate', exact: true }).count()).toBe(0);
    await row.getByRole('button', { name: 'Enable', exact: true }).click();
    await expect.poll(() => row.textContent()).toContain('Active');
    expect(await ping(key)).toBe(200);
  });

  it('rotates with a grace period: the old key works, then stops', async () => {
    const old = await createInPage('rotated key');
    await rowOf('rotated key').getByRole('button', { name: 'Rotate', exact: true }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Grace period').selectOption('3600000');
    await dialog.getByRole('button', { name: 'Rotate key' }).click();
    const field = page.getByRole('textbox', { name: 'New API key' });
    await expect.poll(() => field.inputValue()).not.toBe('');
    const fresh = await field.inputValue();
    expect(fresh).not.toBe(old);
    expect(await ping(old)).toBe(200);
    expect(await ping(fresh)).toBe(200);
    now = new Date(now.getTime() + 3_600_001);
    expect(await ping(old)).toBe(401);
    expect(await ping(fresh)).toBe(200);
    await page.getByRole('button', { name: 'Done' }).click();
  });

  it("edits a key in a dialog holding the create form's fields, errors shown beside them", async () => {
    const key = await createInPage('edited key', 'a:read');
    await rowOf('edited key').getByRole('button', { name: 'Edit', exact: true }).click();
    const dialog = page.getByRole('dialog');
    const scopes = dialog.getByLabel('Scopes', { exact: true });
    expect(await scopes.inputValue()).toBe('a:read');
    await scopes.fill('not a scope!');
    await dialog.getByRole('button', { name: 'Save changes' }).click();
    await expect.poll(() => scopes.getAttribute('aria-invalid')).toBe('true');
    expect(await dialog.locator('#edit-scopes-error').textContent()).not.toBe('');
    await dialog.getByLabel('Name', { exact: true }).fill('renamed key');
    await scopes.fill('a:read, a:write');
    await dialog.getByRole('button', { name: 'Save changes' }).click();
    await expect.poll(() => page.getByRole('dialog').count()).toBe(0);
    await expect.poll(() => rowOf('renamed key').textContent()).toContain('a:read, a:write');
    expect(await page.locator('#create-form [aria-invalid]').count()).toBe(0);
    expect(await ping(key)).toBe(200);
  });

  it('searches and filters', async () => {
    await createInPage('needle one');
    await page.getByRole('searchbox', { name: 'Search' }).fill('needle');
    await expect.poll(() => page.locator('tbody tr').count()).toBe(1);
    await page.getByRole('searchbox', { name: 'Search' }).fill('');
    await page.getByLabel('Status').selectOption('revoked');
    await expect
      .poll(() => page.locator('tbody tr').allTextContents())
      .toEqual([expect.stringContaining('page key')]);
    // The rotated key's grace period is over.
    await page.getByLabel('Status').selectOption('expired');
    await expect
      .poll(() => page.locator('tbody tr').allTextContents())
      .toEqual([expect.stringContaining('rotated key')]);
    await page.getByLabel('Status').selectOption('all');
  });

  it('shows a key named as markup as text', async () => {
    const name = '<img src=x onerror="window.pwned=1">';
    await createInPage(name);
    await expect.poll(() => rowOf(name).count()).toBe(1);
    expect(await page.evaluate(() => (globalThis as any).pwned)).toBeUndefined();
    expect(await page.locator('tbody img').count()).toBe(0);
  });

  it('revokes nothing on a cross-site form post from another origin', async () => {
    const key = await createInPage('csrf target');
    const id = await rowOf('csrf target').getAttribute('data-id');
    const target = `${started.url}/admin/keys/api/keys/${id}/revoke`;
    const attacker: Server = createServer((_request, response) => {
      response.setHeader('content-type', 'text/html');
      response.end(
        `<form method="post" action="${target}"><input name="ids" value="${id}"></form><script>document.forms[0].submit()</script>`,
      );
    });
    await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.2', resolve));
    const evil = await context.newPage();
    const statuses: number[] = [];
    evil.on('response', (response) => {
      if (response.url() === target) statuses.push(response.status());
    });
    await evil.goto(`http://127.0.0.2:${(attacker.address() as AddressInfo).port}/`);
    await expect.poll(() => statuses.filter((status) => status !== 401)).toEqual([403]);
    await evil.close();
    attacker.close();
    expect(await ping(key)).toBe(200);
  });

  it('works with the keyboard alone', async () => {
    await page.reload();
    await page.getByLabel('Name', { exact: true }).focus();
    await page.keyboard.type('keyboard key');
    await page.keyboard.press('Tab');
    await page.keyboard.type('a:b');
    await page.keyboard.press('Enter');
    const field = page.getByRole('textbox', { name: 'New API key' });
    await expect.poll(() => field.inputValue()).toMatch(/\./);
    const key = await field.inputValue();
    expect(await page.evaluate(() => (globalThis as any).document.activeElement?.id)).toBe(
      'new-key-value',
    );
    const revoke = rowOf('keyboard key').getByRole('button', { name: 'Revoke', exact: true });
    for (
      let i = 0;
      i < 60 && !(await revoke.evaluate((b) => b === (globalThis as any).document.activeElement));
      i++
    )
      await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.getByRole('dialog').count()).toBe(1);
    await page.keyboard.press('Escape');
    await expect.poll(() => page.getByRole('dialog').count()).toBe(0);
    expect(await revoke.evaluate((b) => b === (globalThis as any).document.activeElement)).toBe(
      true,
    );
    await page.keyboard.press('Enter');
    for (let i = 0; i < 5; i++) {
      const focused = await page.evaluate(
        () => (globalThis as any).document.activeElement?.textContent,
      );
      if (focused === 'Revoke key') break;
      await page.keyboard.press('Tab');
    }
    await page.keyboard.press('Enter');
    await expect.poll(() => rowOf('keyboard key').textContent()).toContain('Revoked');
    expect(await ping(key)).toBe(401);
  });

  it("confines owner A's page to A's keys", async () => {
    const tenant = async (id: string) => {
      const own = await browser.newContext({
        httpCredentials: CREDENTIALS,
        extraHTTPHeaders: { 'x-tenant': id },
      });
      const tenantPage = await own.newPage();
      await tenantPage.goto(`${started.url}/tenant/keys`);
      return { own, tenantPage };
    };
    const a = await tenant('tenant-a');
    await a.tenantPage.getByLabel('Name', { exact: true }).fill('a secret key');
    await a.tenantPage.getByRole('button', { name: 'Create key' }).click();
    await expect
      .poll(() => a.tenantPage.getByRole('row').filter({ hasText: 'a secret key' }).count())
      .toBe(1);
    const b = await tenant('tenant-b');
    await expect.poll(() => b.tenantPage.locator('#page-info').textContent()).toContain('0 keys');
    expect(await b.tenantPage.getByRole('row').filter({ hasText: 'a secret key' }).count()).toBe(0);
    await a.own.close();
    await b.own.close();
  });
});
