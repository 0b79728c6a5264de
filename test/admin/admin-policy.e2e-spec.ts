import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../support/databases.js';
import { ADAPTERS, call, startOnNewDatabase, type AppOnNewDatabase } from '../support/http.js';
import { ADMIN_AUTH } from './admin.app.js';
import { AdminPolicyTestModule, Org, ORGS } from './admin-policy.app.js';

const DAY = 86_400_000;
const PROOF = { authorization: ADMIN_AUTH, 'x-requested-with': 'XMLHttpRequest' };

/** What no client may read: drivers' and TypeORM's words for a refused row. */
const DRIVER_TEXT =
  /sqlite|constraint|foreign key|violates|QueryFailed|invalid byte|ER_|policy_org/i;

describe.each(ADAPTERS)('owner policies of the management API on %s', (_platform, adapter) => {
  describe.each(ENGINES)('on %s', (engine) => {
    let started: AppOnNewDatabase;
    const now = new Date('2030-01-01T00:00:00.000Z');

    const api = (root: string, path: string, init: Parameters<typeof call>[1] = {}, org?: string) =>
      call(`${started.url}/${root}/api/keys${path}`, {
        ...init,
        headers: { ...PROOF, ...(org ? { 'x-org': org } : {}), ...init.headers },
      });
    const self = (org: string, path: string, init: Parameters<typeof call>[1] = {}) =>
      api('org/keys', path, init, org);

    /** What the app wrote to its log as warnings. */
    const warnings: string[] = [];

    beforeAll(async () => {
      started = await startOnNewDatabase(
        engine,
        adapter,
        (database) => AdminPolicyTestModule.register(database, () => now),
        {
          logger: {
            log: () => undefined,
            error: () => undefined,
            warn: (message: unknown) => void warnings.push(String(message)),
          },
        },
      );
      await started.app
        .get(DataSource)
        .getRepository(Org)
        .insert(ORGS.map((id) => ({ id })));
    });
    afterAll(() => started?.stop());

    it('lets an owner grant only grantable scopes, on create and on update (403 naming the rule)', async () => {
      const refused = await self('org-a', '', {
        method: 'POST',
        body: { name: 'greedy', scopes: ['orders:read', 'admin'] },
      });
      expect(refused.status).toBe(403);
      expect(refused.body).toMatchObject({
        rule: 'grantableScopes',
        fields: { scopes: expect.stringContaining('"admin"') },
      });

      const made = await self('org-a', '', {
        method: 'POST',
        body: { name: 'fine', scopes: ['orders:read'] },
      });
      expect(made.status, JSON.stringify(made.body)).toBe(201);
      const patched = await self('org-a', `/${made.body.apiKey.id}`, {
        method: 'PATCH',
        body: { scopes: ['orders:read', 'admin'] },
      });
      expect(patched.status).toBe(403);
      expect(patched.body.rule).toBe('grantableScopes');
      const shown = await self('org-a', `/${made.body.apiKey.id}`);
      expect(shown.body.scopes).toEqual(['orders:read']);
      // Admin mode has no owner and no policy: the app's own admins grant what they like.
      const admin = await api('ops/org-keys', `/${made.body.apiKey.id}`, {
        method: 'PATCH',
        body: { scopes: ['orders:read', 'admin'] },
      });
      expect(admin.status).toBe(200);
      await api('ops/org-keys', `/${made.body.apiKey.id}/revoke`, { method: 'POST' });
    });

    it('keeps expiry within maxLifetime and refuses no expiry, on create and on update (400 naming the rule)', async () => {
      const defaulted = await self('org-b', '', { method: 'POST', body: { name: 'default' } });
      expect(defaulted.status).toBe(201);
      expect(defaulted.body.apiKey.expiresAt).toBe(
        new Date(now.getTime() + 30 * DAY).toISOString(),
      );
      const id = defaulted.body.apiKey.id;
      for (const [body, rule] of [
        [{ name: 'forever', expiresAt: null }, 'allowNoExpiry'],
        [{ name: 'long', expiresAt: '31d' }, 'maxLifetime'],
      ] as const) {
        const refused = await self('org-b', '', { method: 'POST', body });
        expect(refused.status, JSON.stringify(body)).toBe(400);
        expect(refused.body).toMatchObject({
          rule,
          fields: { expiresAt: expect.stringContaining(rule) },
        });
      }
      for (const [body, rule] of [
        [{ expiresAt: null }, 'allowNoExpiry'],
        [{ expiresAt: '2030-03-01T00:00:00Z' }, 'maxLifetime'],
      ] as const) {
        const refused = await self('org-b', `/${id}`, { method: 'PATCH', body });
        expect(refused.status, JSON.stringify(body)).toBe(400);
        expect(refused.body.rule).toBe(rule);
      }
      const shorter = await self('org-b', `/${id}`, { method: 'PATCH', body: { expiresAt: '7d' } });
      expect(shorter.status).toBe(200);
      await self('org-b', `/${id}/revoke`, { method: 'POST' });
    });

    it('lets an owner hold at most maxActiveKeys active keys, even when creates race', async () => {
      const attempts = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          self('org-a', '', { method: 'POST', body: { name: `race ${i}` } }),
        ),
      );
      const statuses = attempts.map((a) => a.status).sort();
      expect(statuses).toEqual([201, 201, 201, 403, 403, 403, 403, 403]);
      const refusal = attempts.find((a) => a.status === 403)!;
      expect(refusal.body).toMatchObject({ rule: 'maxActiveKeys' });
      expect(refusal.body.message).toMatch(/3 active keys, the most allowed \(3\)/);
      // A rotation with a grace period would be a fourth active key; one without replaces a key.
      const id = attempts.find((a) => a.status === 201)!.body.apiKey.id;
      const graced = await self('org-a', `/${id}/rotate`, {
        method: 'POST',
        body: { gracePeriod: 60_000 },
      });
      expect(graced.status).toBe(403);
      const rotated = await self('org-a', `/${id}/rotate`, {
        method: 'POST',
        body: { gracePeriod: 0 },
      });
      expect(rotated.status).toBe(200);
      // Revoking one makes room; the other owner was never limited by these.
      await self('org-a', `/${rotated.body.apiKey.id}/revoke`, { method: 'POST' });
      expect((await self('org-a', '', { method: 'POST', body: { name: 'room' } })).status).toBe(
        201,
      );
      expect((await self('org-b', '', { method: 'POST', body: { name: 'other' } })).status).toBe(
        201,
      );
    });

    it('answers an unknown owner and a NUL in a name with a 400 naming the field, never driver text', async () => {
      const cases = [
        [
          api('ops/org-keys', '', {
            method: 'POST',
            body: { name: 'orphan', owner: 'no-such-org' },
          }),
          'owner',
        ],
        [self('no-such-org', '', { method: 'POST', body: { name: 'orphan' } }), 'owner'],
        [
          api('ops/org-keys', '', {
            method: 'POST',
            body: { name: 'nul\u0000name', owner: 'org-b' },
          }),
          'name',
        ],
        [self('org-b', '', { method: 'POST', body: { name: 'nul\u0000name' } }), 'name'],
      ] as const;
      for (const [pending, field] of cases) {
        const response = await pending;
        expect(response.status, JSON.stringify(response.body)).toBe(400);
        expect(Object.keys(response.body.fields)).toEqual([field]);
        expect(JSON.stringify(response.body)).not.toMatch(DRIVER_TEXT);
      }
      // The driver's words are in the server log instead.
      expect(warnings.join('\n')).toMatch(
        /The database refused an API key row \(\w+\): .*foreign key/i,
      );
    });

    it("refuses an Origin of another scheme or port than the server's own", async () => {
      const { port } = new URL(started.url);
      for (const origin of [`https://127.0.0.1:${port}`, `http://127.0.0.1:${Number(port) + 1}`]) {
        const response = await self('org-b', '', {
          method: 'POST',
          body: { name: 'cross' },
          headers: { origin },
        });
        expect(response.status, origin).toBe(403);
      }
      // Without trust proxy, a client's own X-Forwarded-Proto does not make the server https.
      const spoofed = await self('org-b', '', {
        method: 'POST',
        body: { name: 'spoofed' },
        headers: { origin: `https://127.0.0.1:${port}`, 'x-forwarded-proto': 'https' },
      });
      expect(spoofed.status).toBe(403);
      const own = await self('org-b', '', {
        method: 'POST',
        body: { name: 'same' },
        headers: { origin: `http://127.0.0.1:${port}` },
      });
      expect(own.status).toBe(201);
    });
  });
});

/** Both platforms behind a trusted TLS-terminating proxy, which says https in X-Forwarded-Proto. */
const TRUSTING_PROXY = [
  [
    'express',
    () => {
      const adapter = new ExpressAdapter();
      adapter.set('trust proxy', true);
      return adapter;
    },
  ],
  ['fastify', () => new FastifyAdapter({ trustProxy: true })],
] as const;

describe.each(TRUSTING_PROXY)(
  'the same-origin check behind a trusted proxy on %s',
  (_p, adapter) => {
    let started: AppOnNewDatabase;

    beforeAll(async () => {
      started = await startOnNewDatabase('sqlite', adapter, (database) =>
        AdminPolicyTestModule.register(database, () => new Date()),
      );
      await started.app.get(DataSource).getRepository(Org).insert({ id: 'org-a' });
    });
    afterAll(() => started?.stop());

    it("takes the https Origin of the proxy's scheme, as the framework reports it", async () => {
      const { host } = new URL(started.url);
      const post = (headers: Record<string, string>) =>
        call(`${started.url}/org/keys/api/keys`, {
          method: 'POST',
          body: { name: 'proxied' },
          headers: { ...PROOF, 'x-org': 'org-a', ...headers },
        });
      expect((await post({ origin: `https://${host}`, 'x-forwarded-proto': 'https' })).status).toBe(
        201,
      );
      expect((await post({ origin: `http://${host}`, 'x-forwarded-proto': 'https' })).status).toBe(
        403,
      );
      expect((await post({ origin: `https://${host}` })).status).toBe(403);
    });
  },
);
