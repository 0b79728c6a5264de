import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiKeyAdminEvent } from '../../lib/admin/index.js';
import { launchBrowser } from '../support/browser.js';
import { ADAPTERS, call, startOnNewDatabase, type AppOnNewDatabase } from '../support/http.js';
import { withWrongSecret } from '../support/key-store.js';
import { ADMIN_AUTH, AdminTestModule } from './admin.app.js';

let browser: Browser;
beforeAll(async () => {
  browser = await launchBrowser();
});
afterAll(() => browser?.close());

describe.each(ADAPTERS)('usage on the admin page in Chromium on %s', (_platform, adapter) => {
  let started: AppOnNewDatabase;
  let context: BrowserContext;
  let page: Page;
  let feed: string;
  let ping: (key: string) => Promise<number>;
  const admin = { authorization: ADMIN_AUTH, 'x-requested-with': 'XMLHttpRequest' };

  beforeAll(async () => {
    started = await startOnNewDatabase('sqlite', adapter, (database) =>
      AdminTestModule.register(database, { listened: [] as ApiKeyAdminEvent[] }),
    );
    const create = async (name: string) =>
      (
        await call(`${started.url}/admin/keys/api/keys`, {
          method: 'POST',
          headers: admin,
          body: { name },
        })
      ).body.key as string;
    feed = await create('Partner feed');
    const quiet = await create('Quiet key');
    ping = async (key: string) =>
      (await call(`${started.url}/ping`, { headers: { authorization: `Api-Key ${key}` } })).status;
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push(await ping(feed));
    for (let i = 0; i < 2; i++) statuses.push(await ping(withWrongSecret(feed)));
    statuses.push(await ping(quiet));
    expect(statuses).toEqual([200, 200, 200, 401, 401, 200]);
    context = await browser.newContext({
      httpCredentials: { username: 'admin', password: 'secret' },
    });
    page = await context.newPage();
    await page.goto(`${started.url}/admin/keys`);
  });
  afterAll(async () => {
    await context?.close();
    await started?.stop();
  });

  it('draws a 14-day sparkline in each row, named by the key and its counts', async () => {
    const row = page.getByRole('row').filter({ hasText: 'Partner feed' });
    await expect
      .poll(() => row.getByRole('img').getAttribute('aria-label'))
      .toBe('Requests of Partner feed over the last 14 days: 5 in all, 5 today');
    expect(await row.locator('svg rect.spark').count()).toBe(1);
  });

  it('charts one key per day by outcome, with totals, as an image named "Usage of <name>"', async () => {
    const row = page.getByRole('row').filter({ hasText: 'Partner feed' });
    await row.getByRole('button', { name: 'Usage' }).click();
    const chart = page.getByRole('img', { name: /^Usage of Partner feed/ });
    await expect
      .poll(() => chart.getAttribute('aria-label'))
      .toBe(
        'Usage of Partner feed: 5 requests in 30 days (3 ok, 2 unauthorized, 0 forbidden, 0 usage exceeded, 0 rate limited)',
      );
    expect(await page.locator('#usage-totals').innerText()).toContain('OK: 3');
    expect(await page.locator('#usage-totals').innerText()).toContain('Total: 5');
    expect(await chart.locator('rect.o-ok').count()).toBe(1);
    expect(await chart.locator('rect.o-unauthorized').count()).toBe(1);
  });

  it('lists the busiest keys of the last 24 hours and 7 days', async () => {
    for (const list of ['#busiest-day', '#busiest-week'])
      await expect
        .poll(async () => (await page.locator(list).innerText()).split('\n').map((l) => l.trim()))
        .toEqual([
          expect.stringMatching(/ Partner feed: 5$/),
          expect.stringMatching(/ Quiet key: 1$/),
        ]);
  });

  it('badges the row of a key that wrong secrets were sent for past the threshold', async () => {
    const row = page.getByRole('row').filter({ hasText: 'Partner feed' });
    expect(await row.getByText('Guessing?').count()).toBe(0);
    // 2 were sent already; guessingAlerts' default threshold is 20.
    for (let i = 0; i < 18; i++) expect(await ping(withWrongSecret(feed))).toBe(401);
    await page.reload();
    await expect.poll(() => row.getByText('Guessing?').count()).toBe(1);
    expect(
      await page.getByRole('row').filter({ hasText: 'Quiet key' }).getByText('Guessing?').count(),
    ).toBe(0);
  });

  it('keeps the strict CSP: no inline style, script or remote file', async () => {
    const errors: string[] = [];
    page.on('console', (message) => message.type() === 'error' && errors.push(message.text()));
    await page.reload();
    await page.getByRole('row').filter({ hasText: 'Partner feed' }).getByRole('img').waitFor();
    expect(errors).toEqual([]);
  });

  it('answers 400 for a bad number of days, and 404 for another key', async () => {
    const bad = await call(`${started.url}/admin/keys/api/keys/nope/usage`, { headers: admin });
    expect(bad.status).toBe(404);
    const list = await call(`${started.url}/admin/keys/api/keys`, { headers: admin });
    const id = list.body.items[0].id;
    const days = await call(`${started.url}/admin/keys/api/keys/${id}/usage?days=9999`, {
      headers: admin,
    });
    expect(days.status).toBe(400);
  });
});
