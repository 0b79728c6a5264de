import { EventEmitter2 } from '@nestjs/event-emitter';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyAdminModule, type ApiKeyAdminEvent } from '../../lib/admin/index.js';
import { ENGINES } from '../support/databases.js';
import { ADAPTERS, call, startOnNewDatabase, type AppOnNewDatabase } from '../support/http.js';
import { ADMIN_AUTH, AdminTestModule } from './admin.app.js';

const JSON_HEADERS = { authorization: ADMIN_AUTH, 'x-requested-with': 'XMLHttpRequest' };

describe('ApiKeyAdminModule options', () => {
  it('refuses to boot without a guard, naming the fix', () => {
    expect(() => ApiKeyAdminModule.forRoot({ path: 'admin/keys' } as any)).toThrow(
      /ApiKeyAdminModule option "guard": .*never served open\. Fix: pass your app's own guard/,
    );
  });

  it('refuses owner-scoped mode without the owner column', () => {
    expect(() =>
      ApiKeyAdminModule.forRoot({
        path: 'keys',
        guard: { canActivate: () => true },
        owner: () => 'a',
      }),
    ).toThrow(/option "ownerColumn".*Fix: add ownerColumn/);
  });
});

const CASES = ENGINES.flatMap((engine) =>
  ADAPTERS.map(([platform, adapter]) => [engine, platform, adapter] as const),
);

describe.each(CASES)('the management API on %s (%s)', (engine, _platform, adapter) => {
  let started: AppOnNewDatabase;
  let base: string;
  let now = new Date('2030-01-01T00:00:00.000Z');
  const events = { listened: [] as ApiKeyAdminEvent[] };
  const emitted: Array<{ name: string; event: ApiKeyAdminEvent }> = [];
  const secrets: string[] = [];

  const api = (path: string, init: Parameters<typeof call>[1] = {}) =>
    call(`${base}/admin/keys/api/keys${path}`, {
      ...init,
      headers: { ...JSON_HEADERS, ...init.headers },
    });
  const create = async (body: object) => {
    const response = await api('', { method: 'POST', body });
    expect(response.status, JSON.stringify(response.body)).toBe(201);
    secrets.push(response.body.key.split('.')[1]);
    return response.body as { apiKey: any; key: string };
  };
  const ping = async (key: string) =>
    (await call(`${base}/ping`, { headers: { authorization: `Api-Key ${key}` } })).status;

  beforeAll(async () => {
    started = await startOnNewDatabase(engine, adapter, (database) =>
      AdminTestModule.register(database, events, () => now),
    );
    base = started.url;
    started.app.get(EventEmitter2).onAny((name, event) => {
      emitted.push({ name: String(name), event: event as ApiKeyAdminEvent });
    });
  });
  afterAll(() => started?.stop());

  it('answers 401 with a challenge without credentials, for the page and the API', async () => {
    for (const path of ['/admin/keys', '/admin/keys/api/keys', '/admin/keys/assets/admin.js']) {
      const response = await call(`${base}${path}`);
      expect(response.status, path).toBe(401);
      expect(response.headers.get('www-authenticate')).toMatch(/^Basic/);
    }
  });

  it('creates a key shown once with no-store, which then passes the guard', async () => {
    const response = await api('', {
      method: 'POST',
      body: { name: 'billing', scopes: 'projects:read, projects:write', expiresAt: '30d' },
    });
    expect(response.status).toBe(201);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const { apiKey, key } = response.body;
    secrets.push(key.split('.')[1]);
    expect(apiKey).toMatchObject({
      name: 'billing',
      scopes: ['projects:read', 'projects:write'],
      status: 'active',
      expiresAt: new Date(now.getTime() + 30 * 86_400_000).toISOString(),
    });
    expect(apiKey).not.toHaveProperty('hashedKey');
    expect(apiKey).not.toHaveProperty('secretTag');
    expect(await ping(key)).toBe(200);
    const shown = await api(`/${apiKey.id}`);
    expect(shown.status).toBe(200);
    expect(shown.body).toEqual(apiKey);
    expect(JSON.stringify(shown.body)).not.toContain(key.split('.')[1]);
  });

  it.each([
    ['name', { name: '', scopes: [] }],
    ['scopes', { name: 'x', scopes: 'has space' }],
    ['expiresAt', { name: 'x', expiresAt: 'yesterday' }],
    ['expiresAt', { name: 'x', expiresAt: '2029-01-01T00:00:00Z' }],
    ['prefix', { name: 'x', prefix: 'AAAAAAAA' }],
  ])('answers a bad %s with 400 naming it, and writes nothing', async (field, body) => {
    const before = (await api('?status=all')).body.total;
    const response = await api('', { method: 'POST', body });
    expect(response.status).toBe(400);
    expect(Object.keys(response.body.fields)).toEqual([field]);
    expect((await api('?status=all')).body.total).toBe(before);
  });

  it('answers 404 for an unknown id or prefix, on every operation', async () => {
    const unknown = '00000000-0000-4000-8000-000000000000';
    expect((await api(`/${unknown}`)).status).toBe(404);
    expect((await api('/ZZZZZZZZ')).status).toBe(404);
    expect((await api(`/${unknown}`, { method: 'PATCH', body: { name: 'x' } })).status).toBe(404);
    expect((await api(`/${unknown}/revoke`, { method: 'POST' })).status).toBe(404);
    expect((await api(`/${unknown}/rotate`, { method: 'POST', body: {} })).status).toBe(404);
  });

  it('lists with search, status filters, sorting and paging', async () => {
    const alpha = await create({ name: 'Alpha 100%_done' });
    const beta = await create({ name: 'beta', expiresAt: '1h' });
    const gamma = await create({ name: 'gamma' });
    await api(`/${gamma.apiKey.id}/revoke`, { method: 'POST' });
    now = new Date(now.getTime() + 2 * 3_600_000);
    const names = async (query: string) =>
      (await api(`?${query}`)).body.items.map((item: any) => item.name);
    expect(await names('search=ALPHA')).toEqual(['Alpha 100%_done']);
    expect(await names('search=%25_')).toEqual(['Alpha 100%_done']);
    expect(await names('search=_')).toEqual(['Alpha 100%_done']);
    expect(await names(`search=${beta.apiKey.prefix}`)).toEqual(['beta']);
    expect(await names('status=expired')).toEqual(['beta']);
    expect(await names('status=revoked')).toEqual(['gamma']);
    const active = await names('status=active');
    expect(active).toContain('Alpha 100%_done');
    expect(active).not.toContain('beta');
    expect(active).not.toContain('gamma');
    const sorted = await names('sort=name&order=asc&pageSize=100');
    expect(sorted).toEqual(
      [...sorted].sort((a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)),
    );
    const first = (await api('?pageSize=2&page=1')).body;
    const second = (await api('?pageSize=2&page=2')).body;
    expect(first.items).toHaveLength(2);
    expect(first.total).toBeGreaterThanOrEqual(4);
    expect(second.items[0].id).not.toBe(first.items[1].id);
    expect((await api('?status=nope')).body.fields).toHaveProperty('status');
    expect((await api('?pageSize=1000')).status).toBe(400);
    expect(JSON.stringify(await api('?pageSize=100'))).not.toContain(alpha.key);
  });

  it('updates name, scopes and expiry of an active key; a revoked key is read-only', async () => {
    const { apiKey } = await create({ name: 'editable' });
    const updated = await api(`/${apiKey.id}`, {
      method: 'PATCH',
      body: { name: 'edited', scopes: ['a:b'], expiresAt: '2031-01-01T00:00:00Z' },
    });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({
      name: 'edited',
      scopes: ['a:b'],
      expiresAt: '2031-01-01T00:00:00.000Z',
    });
    const bad = await api(`/${apiKey.id}`, { method: 'PATCH', body: { revokedAt: null } });
    expect(bad.status).toBe(400);
    expect(bad.body.fields).toHaveProperty('revokedAt');
    await api(`/${apiKey.id}/revoke`, { method: 'POST' });
    const refused = await api(`/${apiKey.id}`, { method: 'PATCH', body: { name: 'again' } });
    expect(refused.status).toBe(409);
    expect((await api(`/${apiKey.id}`)).body.name).toBe('edited');
  });

  it('revokes one key, then many at once, all or none', async () => {
    const one = await create({ name: 'one' });
    const revoked = await api(`/${one.apiKey.id}/revoke`, { method: 'POST' });
    expect(revoked.body.status).toBe('revoked');
    expect(await ping(one.key)).toBe(401);
    const two = await create({ name: 'two' });
    const three = await create({ name: 'three' });
    const unknown = await api('/revoke', {
      method: 'POST',
      body: { ids: [two.apiKey.id, '00000000-0000-4000-8000-000000000000'] },
    });
    expect(unknown.status).toBe(404);
    expect(await ping(two.key)).toBe(200);
    const both = await api('/revoke', {
      method: 'POST',
      body: { ids: [two.apiKey.id, three.apiKey.prefix] },
    });
    expect(both.status).toBe(200);
    expect(both.body.items.map((item: any) => item.status)).toEqual(['revoked', 'revoked']);
    expect(await ping(two.key)).toBe(401);
    expect(await ping(three.key)).toBe(401);
    expect((await api('/revoke', { method: 'POST', body: { ids: [] } })).status).toBe(400);
  });

  it('rotates with a grace period: the old key works, then stops', async () => {
    const old = await create({ name: 'rotating', scopes: ['x'] });
    const response = await api(`/${old.apiKey.id}/rotate`, {
      method: 'POST',
      body: { gracePeriod: 60_000 },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    secrets.push(response.body.key.split('.')[1]);
    expect(response.body.apiKey).toMatchObject({ name: 'rotating', scopes: ['x'] });
    expect(await ping(response.body.key)).toBe(200);
    expect(await ping(old.key)).toBe(200);
    now = new Date(now.getTime() + 61_000);
    expect(await ping(old.key)).toBe(401);
    expect(await ping(response.body.key)).toBe(200);
    const again = await api(`/${old.apiKey.id}/rotate`, { method: 'POST', body: {} });
    expect(again.status).toBe(409);
    const bad = await api(`/${response.body.apiKey.id}/rotate`, {
      method: 'POST',
      body: { gracePeriod: -1 },
    });
    expect(bad.body.fields).toHaveProperty('gracePeriod');
  });

  it('emits created, updated, revoked and rotated events, to the listener and the event emitter, never with a secret', async () => {
    const types = new Set(events.listened.map((event) => event.type));
    expect([...types].sort()).toEqual(['created', 'revoked', 'rotated', 'updated']);
    const created = events.listened.find((event) => event.type === 'created')!;
    expect(created).toMatchObject({
      registration: 'default',
      name: 'billing',
      owner: null,
      actor: 'admin',
    });
    expect(created.at).toBeInstanceOf(Date);
    expect(events.listened.find((event) => event.type === 'updated')!.changes).toEqual([
      'name',
      'scopes',
      'expiresAt',
    ]);
    expect(events.listened.find((event) => event.type === 'revoked')!.reason).toBe('admin');
    expect(created).not.toHaveProperty('reason');
    expect(events.listened.find((event) => event.type === 'rotated')!.previous).toMatchObject({
      revoked: false,
    });
    expect(emitted.map(({ name }) => name)).toEqual(
      events.listened.map((event) => `api-key.${event.type}`),
    );
    const text = JSON.stringify([events.listened, emitted]);
    for (const secret of secrets) expect(text).not.toContain(secret);
  });

  it('refuses state changes without same-origin proof, and changes nothing', async () => {
    const { apiKey, key } = await create({ name: 'target' });
    const attempts: Array<[Record<string, string>, number]> = [
      [{ 'x-requested-with': '' }, 403],
      [{ 'sec-fetch-site': 'cross-site' }, 403],
      [{ 'sec-fetch-site': 'same-site' }, 403],
      [{ origin: 'https://evil.example' }, 403],
      [{ origin: 'null' }, 403],
      [{ 'content-type': 'application/x-www-form-urlencoded' }, 415],
    ];
    for (const [headers, status] of attempts) {
      const response = await fetch(`${base}/admin/keys/api/keys/${apiKey.id}/revoke`, {
        method: 'POST',
        headers: { ...JSON_HEADERS, ...headers },
        body: headers['content-type'] ? 'ids=x' : undefined,
      });
      expect(response.status, JSON.stringify(headers)).toBe(status);
    }
    expect(await ping(key)).toBe(200);
    const sameOrigin = await api(`/${apiKey.id}/revoke`, {
      method: 'POST',
      headers: { origin: base, 'sec-fetch-site': 'same-origin' },
    });
    expect(sameOrigin.status).toBe(200);
  });

  it("confines owner-scoped mode to the owner: another owner's key answers 404", async () => {
    const tenant = (id: string, path: string, init: Parameters<typeof call>[1] = {}) =>
      call(`${base}/tenant/keys/api/keys${path}`, {
        ...init,
        headers: { ...JSON_HEADERS, 'x-tenant': id, ...init.headers },
      });
    const a = await tenant('tenant-a', '', { method: 'POST', body: { name: 'a key' } });
    expect(a.status).toBe(201);
    expect(a.body.apiKey.owner).toBe('tenant-a');
    const ignored = await tenant('tenant-b', '', {
      method: 'POST',
      body: { name: 'b key', owner: 'tenant-a' },
    });
    expect(ignored.status).toBe(400);
    const b = await tenant('tenant-b', '', { method: 'POST', body: { name: 'b key' } });
    const aId = a.body.apiKey.id;
    expect((await tenant('tenant-b', '')).body.items.map((k: any) => k.name)).toEqual(['b key']);
    expect((await tenant('tenant-b', `/${aId}`)).status).toBe(404);
    expect((await tenant('tenant-b', `/${a.body.apiKey.prefix}`)).status).toBe(404);
    expect(
      (await tenant('tenant-b', `/${aId}`, { method: 'PATCH', body: { name: 'x' } })).status,
    ).toBe(404);
    expect((await tenant('tenant-b', `/${aId}/revoke`, { method: 'POST' })).status).toBe(404);
    expect((await tenant('tenant-b', `/${aId}/rotate`, { method: 'POST', body: {} })).status).toBe(
      404,
    );
    expect(
      (
        await tenant('tenant-b', '/revoke', {
          method: 'POST',
          body: { ids: [b.body.apiKey.id, aId] },
        })
      ).status,
    ).toBe(404);
    const stillUsable = await call(`${base}/tenant-ping`, {
      headers: { authorization: `Api-Key ${a.body.key}` },
    });
    expect(stillUsable.body).toEqual({ prefix: a.body.apiKey.prefix, tenantId: 'tenant-a' });
    expect((await tenant('', '')).status).toBe(403);
    const rotated = await tenant('tenant-a', `/${aId}/rotate`, { method: 'POST', body: {} });
    expect(rotated.body.apiKey.owner).toBe('tenant-a');
    const owned = events.listened.filter((event) => event.registration === 'tenant');
    expect(owned.map((event) => [event.type, event.owner, event.actor])).toEqual([
      ['created', 'tenant-a', 'tenant-user'],
      ['created', 'tenant-b', 'tenant-user'],
      ['rotated', 'tenant-a', 'tenant-user'],
    ]);
    const ops = (query: string) =>
      call(`${base}/ops/tenant-keys/api/keys${query}`, { headers: JSON_HEADERS });
    const all = await ops('?pageSize=100');
    expect(all.body.ownerField).toBe(true);
    expect(new Set(all.body.items.map((k: any) => k.owner))).toEqual(
      new Set(['tenant-a', 'tenant-b']),
    );
    expect((await ops('?owner=tenant-b')).body.items.map((k: any) => k.name)).toEqual(['b key']);
    const made = await call(`${base}/ops/tenant-keys/api/keys`, {
      method: 'POST',
      headers: JSON_HEADERS,
      body: { name: 'for c', owner: 'tenant-c' },
    });
    expect(made.body.apiKey.owner).toBe('tenant-c');
    const ownerless = await call(`${base}/ops/tenant-keys/api/keys`, {
      method: 'POST',
      headers: JSON_HEADERS,
      body: { name: 'nobody' },
    });
    expect(ownerless.body, JSON.stringify(ownerless.body)).toHaveProperty('fields.owner');
  });
});
