import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiKeyAdminEvent } from '../../lib/admin/index.js';
import { ENGINES } from '../support/databases.js';
import { ADAPTERS, call, startOnNewDatabase, type AppOnNewDatabase } from '../support/http.js';
import { ADMIN_AUTH, AdminTestModule } from './admin.app.js';

const JSON_HEADERS = { authorization: ADMIN_AUTH, 'x-requested-with': 'XMLHttpRequest' };

/** The management API shows, filters and edits each key policy, and refuses bad ones naming the field. */
const CASES = ENGINES.flatMap((engine) =>
  ADAPTERS.map(([platform, adapter]) => [engine, platform, adapter] as const),
);

describe.each(CASES)(
  'key policies in the management API on %s (%s)',
  (engine, _platform, adapter) => {
    let started: AppOnNewDatabase;
    const now = new Date('2030-01-01T00:00:00.000Z');
    const api = (path: string, init: Parameters<typeof call>[1] = {}) =>
      call(`${started.url}/admin/keys/api/keys${path}`, {
        ...init,
        headers: { ...JSON_HEADERS, ...init.headers },
      });
    const ping = async (key: string) =>
      (await call(`${started.url}/ping`, { headers: { authorization: `Api-Key ${key}` } })).status;

    beforeAll(async () => {
      started = await startOnNewDatabase(engine, adapter, (database) =>
        AdminTestModule.register(database, { listened: [] as ApiKeyAdminEvent[] }, () => now),
      );
    });
    afterAll(() => started?.stop());

    it('creates a key with an allow-list and credits given as the form sends them, and shows them', async () => {
      const created = await api('', {
        method: 'POST',
        body: { name: 'metered', allowedIps: '127.0.0.1/32, 2001:db8::/32', remaining: '3' },
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      expect(created.body.apiKey).toMatchObject({
        status: 'active',
        allowedIps: ['127.0.0.1/32', '2001:db8::/32'],
        remaining: 3,
        refillAmount: null,
        disabledAt: null,
      });
      expect(await ping(created.body.key)).toBe(200);
      const shown = await api(`/${created.body.apiKey.id}`);
      expect(shown.body.remaining).toBe(2);
      const edited = await api(`/${created.body.apiKey.id}`, {
        method: 'PATCH',
        body: { allowedIps: '10.0.0.0/8', refillAmount: 10, refillInterval: 'day' },
      });
      expect(edited.status, JSON.stringify(edited.body)).toBe(200);
      expect(edited.body).toMatchObject({ allowedIps: ['10.0.0.0/8'], refillAmount: 10 });
      expect(await ping(created.body.key)).toBe(403);
    });

    it('disables and enables a key, and filters by the disabled status', async () => {
      const { body } = await api('', { method: 'POST', body: { name: 'paused' } });
      const { id } = body.apiKey;
      const disabled = await api(`/${id}/disable`, { method: 'POST' });
      expect(disabled.status).toBe(200);
      expect(disabled.body).toMatchObject({ status: 'disabled', disabledAt: now.toISOString() });
      expect(await ping(body.key)).toBe(401);
      const listed = await api('?status=disabled');
      expect(listed.body.items.map((key: { id: string }) => key.id)).toEqual([id]);
      const active = await api('?status=active');
      expect(active.body.items.map((key: { id: string }) => key.id)).not.toContain(id);
      const enabled = await api(`/${id}/enable`, { method: 'POST' });
      expect(enabled.body.status).toBe('active');
      expect(await ping(body.key)).toBe(200);
    });

    it.each([
      ['allowedIps', { allowedIps: '10.0.0.0/33' }],
      ['allowedIps', { allowedIps: { $ne: null } }],
      ['remaining', { remaining: 'many' }],
      ['remaining', { remaining: -5 }],
      ['remaining', { remaining: [1] }],
      ['refillInterval', { remaining: 5, refillAmount: 5, refillInterval: { day: 1 } }],
      ['refillAmount', { remaining: 5, refillAmount: 1e308, refillInterval: 'day' }],
    ])('answers 400 naming %s for %j, never a 500', async (field, policy) => {
      const response = await api('', { method: 'POST', body: { name: 'hostile', ...policy } });
      expect(response.status, JSON.stringify(response.body)).toBe(400);
      expect(JSON.stringify(response.body)).toContain(field);
    });
  },
);
