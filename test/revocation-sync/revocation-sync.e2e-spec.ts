import 'reflect-metadata';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyService } from '../../lib/index.js';
import { LISTENER_APPLICATION_NAME } from '../../lib/api-key.revocation-listener.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { ADAPTERS, call, startApp } from '../support/http.js';
import { notifyModeApp } from './revocation-sync.app.js';

/** How long another instance may take to refuse a changed key: generous, the machine is shared. */
const BOUND = 3_000;

/** Polls `url` until it answers `status`; the status it ended on. */
async function statusWithin(url: string, key: string, status: number): Promise<number> {
  const deadline = Date.now() + BOUND;
  let last: number;
  do {
    last = (await call(url, { headers: { authorization: `Api-Key ${key}` } })).status;
    if (last === status) return last;
    await sleep(10);
  } while (Date.now() < deadline);
  return last;
}

/**
 * Two instances in `revocationSync: 'notify'` on one PostgreSQL database: a change made through
 * one, or by raw SQL, reaches the other's cache by notification, and a lost listener never
 * lets a cached row through.
 */
describe.each(ADAPTERS)("revocationSync: 'notify' on postgres (%s)", (_platform, adapter) => {
  let db: TestDatabase;
  let sql: DataSource;
  const apps: Array<{ app: any; url: string }> = [];
  const service = () => apps[0].app.get(ApiKeyService) as ApiKeyService;
  const listeners = async (): Promise<Array<{ pid: number }>> =>
    sql.query(
      'SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1',
      [LISTENER_APPLICATION_NAME],
    );
  /** Revokes with triggers off (a replica's role), so no notification is sent. */
  const revokeUnnotified = (id: string) =>
    sql.transaction(async (manager) => {
      await manager.query('SET LOCAL session_replication_role = replica');
      await manager.query('UPDATE api_keys SET revoked_at = now() WHERE id = $1', [id]);
    });
  /** A key both instances have let in, so the second one has cached its row. */
  const warmKey = async (scopes: string[] = []) => {
    const created = await service().create({ name: 'synced', scopes });
    for (const { url } of apps) {
      const headers = { authorization: `Api-Key ${created.key}` };
      expect((await call(`${url}/who`, { headers })).status).toBe(200);
      expect((await call(`${url}/who`, { headers })).status).toBe(200);
    }
    return created;
  };

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    for (let i = 0; i < 2; i++)
      apps.push(await startApp(notifyModeApp(db.options, i === 0), adapter));
    sql = await new DataSource(db.options).initialize();
    const deadline = Date.now() + BOUND;
    while ((await listeners()).length < 2 && Date.now() < deadline) await sleep(20);
  });
  afterAll(async () => {
    for (const { app } of apps) await app.close();
    await sql?.destroy();
    await db?.drop();
  });

  it('creates the change trigger at boot and holds one listening connection per instance', async () => {
    const triggers = await sql.query(
      "SELECT tgname FROM pg_trigger WHERE tgrelid = to_regclass('api_keys') AND tgname LIKE '%notify_change%' ORDER BY tgname",
    );
    expect(triggers.map((t: { tgname: string }) => t.tgname)).toEqual([
      'api_keys_notify_change',
      'api_keys_notify_change_all',
    ]);
    expect(await listeners()).toHaveLength(2);
  });

  it('serves a verified row from memory until its change is notified', async () => {
    const { key, apiKey } = await warmKey();
    // With triggers off (a replica's role) the revoke is not notified: the cached row still passes,
    // which shows the instances no longer read per request.
    await revokeUnnotified(apiKey.id);
    const headers = { authorization: `Api-Key ${key}` };
    expect((await call(`${apps[1].url}/who`, { headers })).status).toBe(200);
    await sql.query("SELECT pg_notify('api_keys_changes', $1)", [apiKey.prefix]);
    expect(await statusWithin(`${apps[1].url}/who`, key, 401)).toBe(401);
  });

  it('a revoke through one instance is refused by the other within the bound', async () => {
    const { key, apiKey } = await warmKey();
    await service().revoke(apiKey.id);
    expect(await statusWithin(`${apps[1].url}/who`, key, 401)).toBe(401);
  });

  it('a raw SQL revoke and a raw DELETE reach both instances', async () => {
    const revoked = await warmKey();
    await sql.query('UPDATE api_keys SET revoked_at = now() WHERE id = $1', [revoked.apiKey.id]);
    const deleted = await warmKey();
    await sql.query('DELETE FROM api_keys WHERE id = $1', [deleted.apiKey.id]);
    for (const { url } of apps) {
      expect(await statusWithin(`${url}/who`, revoked.key, 401)).toBe(401);
      expect(await statusWithin(`${url}/who`, deleted.key, 401)).toBe(401);
    }
  });

  it('a rotation without grace and a scope change are honoured by the other instance', async () => {
    const rotated = await warmKey();
    const { key: successor } = await service().rotate(rotated.apiKey.id, { gracePeriod: 0 });
    expect(await statusWithin(`${apps[1].url}/who`, rotated.key, 401)).toBe(401);
    expect(
      (await call(`${apps[1].url}/who`, { headers: { authorization: `Api-Key ${successor}` } }))
        .status,
    ).toBe(200);

    const scoped = await warmKey(['write']);
    expect(await statusWithin(`${apps[1].url}/write`, scoped.key, 200)).toBe(200);
    await service().update(scoped.apiKey.id, { scopes: ['read'] });
    expect(await statusWithin(`${apps[1].url}/write`, scoped.key, 403)).toBe(403);
  });

  it('a key revoked while the listener is killed is refused on the next request, and the listener resyncs', async () => {
    const { key, apiKey } = await warmKey();
    const killed = await listeners();
    for (const { pid } of killed) await sql.query('SELECT pg_terminate_backend($1)', [pid]);
    // Not notified, then or after the reconnect: only the cache dropped with the connection refuses it.
    await revokeUnnotified(apiKey.id);
    // Long enough for the instances to see their connection close, not for a test of speed.
    await sleep(200);
    for (const { url } of apps) {
      const response = await call(`${url}/who`, { headers: { authorization: `Api-Key ${key}` } });
      expect(response.status).toBe(401);
    }

    const deadline = Date.now() + BOUND;
    let back = await listeners();
    while (back.length < 2 && Date.now() < deadline) {
      await sleep(20);
      back = await listeners();
    }
    expect(back).toHaveLength(2);
    expect(back.map(({ pid }) => pid)).not.toEqual(
      expect.arrayContaining(killed.map(({ pid }) => pid)),
    );
    const later = await warmKey();
    await sql.query('UPDATE api_keys SET revoked_at = now() WHERE id = $1', [later.apiKey.id]);
    expect(await statusWithin(`${apps[1].url}/who`, later.key, 401)).toBe(401);
  });
});

describe("revocationSync: 'notify' elsewhere", () => {
  it('refuses to boot on a database without LISTEN, naming the fix', async () => {
    const sqlite = { type: 'better-sqlite3', database: ':memory:' } as const;
    await expect(startApp(notifyModeApp(sqlite, true), ADAPTERS[0][1])).rejects.toThrow(
      /'notify' is supported on PostgreSQL only, not on better-sqlite3\. Fix: leave revocationSync unset/,
    );
  });
});
