import 'reflect-metadata';
import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LISTENER_APPLICATION_NAME } from '../../lib/change-feed/listener.js';
import { ADAPTERS, call } from '../support/http.js';
import { pollUntil } from '../support/revocation-sync-mode.js';
import {
  BOUND,
  startNotifyPair,
  statusesUntil,
  statusWithin,
  type NotifyPair,
} from './revocation-sync.app.js';
import { itPropagatesChanges } from './propagation.cases.js';

/**
 * Two instances in `revocationSync: 'notify'` on one PostgreSQL database: a change made through
 * one, or by raw SQL, reaches the other's cache by notification, and a lost listener never
 * lets a cached row through.
 */
describe.each(ADAPTERS)("revocationSync: 'notify' on postgres (%s)", (_platform, adapter) => {
  let pair: NotifyPair;
  let sql: DataSource;
  let apps: NotifyPair['apps'];
  const warmKey = (scopes?: string[]) => pair.warmKey(scopes);
  const listeners = async (): Promise<Array<{ pid: number }>> =>
    sql.query(
      'SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1',
      [LISTENER_APPLICATION_NAME],
    );
  /** Waits until both instances listen again, on connections other than `killed`. */
  const listenersBack = async (killed: Array<{ pid: number }>) => {
    let back = await listeners();
    await pollUntil(async () => (back = await listeners()).length === 2, BOUND);
    expect(back).toHaveLength(2);
    expect(back.map(({ pid }) => pid)).not.toEqual(
      expect.arrayContaining(killed.map(({ pid }) => pid)),
    );
  };
  /** Revokes with triggers off (a replica's role), so no notification is sent. */
  const revokeUnnotified = (id: string) =>
    sql.transaction(async (manager) => {
      await manager.query('SET LOCAL session_replication_role = replica');
      await manager.query('UPDATE api_keys SET revoked_at = now() WHERE id = $1', [id]);
    });

  beforeAll(async () => {
    pair = await startNotifyPair('postgres', adapter);
    ({ sql, apps } = pair);
    await pair.channelsUp();
  });
  afterAll(async () => {
    await pair?.close();
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

  itPropagatesChanges(() => pair, {
    revoke: 'UPDATE api_keys SET revoked_at = now() WHERE id = $1',
    delete: 'DELETE FROM api_keys WHERE id = $1',
  });

  it('a key revoked while the listener is killed is refused on the next request, and the listener resyncs', async () => {
    const { key, apiKey } = await warmKey();
    const killed = await listeners();
    const before = pair.tickets();
    for (const { pid } of killed) await sql.query('SELECT pg_terminate_backend($1)', [pid]);
    // Not notified, then or after the reconnect: only the cache dropped with the connection refuses it.
    await revokeUnnotified(apiKey.id);
    // Until the instances see their connection close a cached row may pass, as designed.
    await pair.outageNoticed(before);
    for (const { url } of apps) {
      const response = await call(`${url}/who`, { headers: { authorization: `Api-Key ${key}` } });
      expect(response.status).toBe(401);
    }

    await listenersBack(killed);
    const later = await warmKey();
    await sql.query('UPDATE api_keys SET revoked_at = now() WHERE id = $1', [later.apiKey.id]);
    expect(await statusWithin(`${apps[1].url}/who`, later.key, 401)).toBe(401);
  });

  it('resyncs after every connection of both instances is cut, as a database restart does', async () => {
    const { key, apiKey } = await warmKey();
    const killed = await listeners();
    const before = pair.tickets();
    await sql.query(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
    );
    await revokeUnnotified(apiKey.id);
    await pair.outageNoticed(before);
    // A request may meet a connection that died with the others (a 503): never a pass.
    for (const { url } of apps) {
      const statuses = await statusesUntil(`${url}/who`, key, 401);
      expect(statuses.at(-1)).toBe(401);
      expect(statuses).not.toContain(200);
    }

    await listenersBack(killed);
    const later = await warmKey();
    await sql.query('UPDATE api_keys SET revoked_at = now() WHERE id = $1', [later.apiKey.id]);
    for (const { url } of apps) expect(await statusWithin(`${url}/who`, later.key, 401)).toBe(401);
  });
});
