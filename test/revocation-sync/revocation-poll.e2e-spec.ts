import 'reflect-metadata';
import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runStatements } from '../../lib/schema/sql.js';
import { changeTriggerStatements } from '../../lib/change-feed/triggers.js';
import { ADAPTERS, call } from '../support/http.js';
import { startNotifyPair, statusWithin, type NotifyPair } from './revocation-sync.app.js';
import { itPropagatesChanges } from './propagation.cases.js';

const ENGINES = ['mariadb', 'sqlite'] as const;
const CASES = ENGINES.flatMap((engine) =>
  ADAPTERS.map(([platform, adapter]) => [engine, platform, adapter] as const),
);
const REVOKE = "UPDATE api_keys SET revoked_at = '2020-01-01 00:00:00' WHERE id = ?";

/**
 * Two instances in `revocationSync: 'notify'` on one MariaDB database, or one SQLite file: a
 * change made through one, or by raw SQL, bumps the change counter the other polls, and a poll
 * that fails or is late never lets a cached row through.
 */
describe.each(CASES)("revocationSync: 'notify' on %s (%s)", (engine, _platform, adapter) => {
  let pair: NotifyPair;
  let sql: DataSource;
  let apps: NotifyPair['apps'];
  const warmKey = (scopes?: string[]) => pair.warmKey(scopes);
  /** Revokes and puts the counter back in one transaction, so no poll sees the change. */
  const revokeUnseen = (id: string) =>
    sql.transaction(async (manager) => {
      await manager.query(REVOKE, [id]);
      await manager.query('UPDATE api_keys_changes SET version = version - 1 WHERE id = 1');
    });

  beforeAll(async () => {
    pair = await startNotifyPair(engine, adapter);
    ({ sql, apps } = pair);
    // The first polls, which let the instances serve from memory.
    await pair.channelsUp();
  });
  afterAll(async () => {
    await pair?.close();
  });

  it('creates the change counter and its triggers at boot', async () => {
    const triggers =
      engine === 'mariadb'
        ? await sql.query(
            "SELECT trigger_name AS name FROM information_schema.triggers WHERE trigger_schema = DATABASE() AND event_object_table = 'api_keys' AND trigger_name LIKE '%notify_change%' ORDER BY trigger_name",
          )
        : await sql.query(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'api_keys' AND name LIKE '%notify_change%' ORDER BY name",
          );
    expect(triggers.map((t: { name: string }) => t.name)).toEqual([
      'api_keys_notify_change',
      'api_keys_notify_change_delete',
    ]);
    expect(await sql.query('SELECT id FROM api_keys_changes')).toEqual([{ id: 1 }]);
  });

  it('serves a verified row from memory until the counter moves', async () => {
    const { key, apiKey } = await warmKey();
    await revokeUnseen(apiKey.id);
    const headers = { authorization: `Api-Key ${key}` };
    expect((await call(`${apps[1].url}/who`, { headers })).status).toBe(200);
    await sql.query('UPDATE api_keys_changes SET version = version + 1 WHERE id = 1');
    expect(await statusWithin(`${apps[1].url}/who`, key, 401)).toBe(401);
  });

  it('moves the counter for a change, not for a usage write', async () => {
    const { apiKey } = await warmKey();
    const version = async () =>
      Number((await sql.query('SELECT version FROM api_keys_changes'))[0].version);
    const before = await version();
    await sql.query("UPDATE api_keys SET last_used_at = '2030-01-01 00:00:00' WHERE id = ?", [
      apiKey.id,
    ]);
    expect(await version()).toBe(before);
    await sql.query("UPDATE api_keys SET expires_at = '2030-01-01 00:00:00' WHERE id = ?", [
      apiKey.id,
    ]);
    expect(await version()).toBe(before + 1);
  });

  itPropagatesChanges(() => pair, {
    revoke: REVOKE,
    delete: 'DELETE FROM api_keys WHERE id = ?',
  });

  it('a key revoked while the polls fail, its bump missed, is refused on the next request', async () => {
    const { key, apiKey } = await warmKey();
    const before = pair.tickets();
    await sql.query('ALTER TABLE api_keys_changes RENAME TO api_keys_changes_away');
    await pair.outageNoticed(before);
    // Without its trigger the revoke leaves the counter where it was, when the polls resume.
    await sql.query('DROP TRIGGER api_keys_notify_change');
    await sql.query(REVOKE, [apiKey.id]);
    await sql.query('ALTER TABLE api_keys_changes_away RENAME TO api_keys_changes');
    const runner = sql.createQueryRunner();
    try {
      await runStatements(runner, await changeTriggerStatements(runner, 'api_keys'));
    } finally {
      await runner.release();
    }
    for (const { url } of apps) {
      const response = await call(`${url}/who`, { headers: { authorization: `Api-Key ${key}` } });
      expect(response.status).toBe(401);
    }
    const later = await warmKey();
    await sql.query(REVOKE, [later.apiKey.id]);
    for (const { url } of apps) expect(await statusWithin(`${url}/who`, later.key, 401)).toBe(401);
  });
});
