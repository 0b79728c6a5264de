import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasOwnerTrigger } from '../../lib/change-feed/owner-triggers.js';
import { ADAPTERS, call } from '../support/http.js';
import { eventually } from '../support/revocation-sync-mode.js';
import type { Engine } from '../support/databases.js';
import { OWNER_SCENARIO, Partner, PartnerKey } from './owner-sync.app.js';
import { itPropagatesChanges } from './propagation.cases.js';
import { startNotifyPair, statusWithin, type NotifyPair } from './revocation-sync.app.js';

const ENGINES: Engine[] = ['postgres', 'mariadb', 'sqlite'];
const CASES = ENGINES.flatMap((engine) =>
  ADAPTERS.map(([platform, adapter]) => [engine, platform, adapter] as const),
);
const OWNER_TRIGGER = 'owner_sync_keys_notify_owner_owner_sync_partners';

/** The names of the triggers on the partner table. */
function triggersSql(engine: Engine): string {
  if (engine === 'postgres')
    return "SELECT tgname AS name FROM pg_trigger WHERE tgrelid = to_regclass('owner_sync_partners') AND NOT tgisinternal ORDER BY tgname";
  if (engine === 'mariadb')
    return "SELECT trigger_name AS name FROM information_schema.triggers WHERE trigger_schema = DATABASE() AND event_object_table = 'owner_sync_partners' ORDER BY trigger_name";
  return "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'owner_sync_partners' ORDER BY name";
}

/**
 * Two instances in `revocationSync: 'notify'` whose keys are usable only while their partner
 * is active (`usableWhere: { partner: { active: true } }`): a change to the partner row, by raw
 * SQL or through TypeORM, reaches the other instance's cache through the trigger made at boot on
 * the partner table; a change to a column the condition does not read is not a change.
 */
describe.each(CASES)('usableWhere in notify mode on %s (%s)', (engine, _platform, adapter) => {
  let pair: NotifyPair;
  const $ = (n: number) => (engine === 'postgres' ? `$${n}` : '?');
  const bool = (value: boolean) => (engine === 'postgres' ? String(value) : value ? '1' : '0');
  const setActive = (id: string, active: boolean) =>
    pair.sql.query(`UPDATE owner_sync_partners SET active = ${bool(active)} WHERE id = ${$(1)}`, [
      id,
    ]);
  /** A key both instances have cached, and its partner. */
  const warmOwnedKey = async () => {
    const created = await pair.warmKey();
    const { partnerId } = created.apiKey as unknown as PartnerKey;
    return { key: created.key, partnerId };
  };
  const bothAnswer = async (key: string, status: number) => {
    for (const { url } of pair.apps)
      expect(await statusWithin(`${url}/who`, key, status)).toBe(status);
  };

  beforeAll(async () => {
    pair = await startNotifyPair(engine, adapter, OWNER_SCENARIO);
    // The first polls (MariaDB, SQLite) or LISTEN (PostgreSQL), which let the instances cache.
    await pair.channelsUp();
  });
  afterAll(async () => {
    await pair?.close();
  });

  it('creates the owner triggers on the partner table at boot, named apart from the key table ones', async () => {
    const names = (await pair.sql.query(triggersSql(engine))).map((t: { name: string }) => t.name);
    expect(names).toEqual(
      engine === 'postgres'
        ? [OWNER_TRIGGER, `${OWNER_TRIGGER}_all`]
        : [OWNER_TRIGGER, `${OWNER_TRIGGER}_delete`, `${OWNER_TRIGGER}_insert`],
    );
    // What the second instance's boot found instead of making them again.
    const run = (sql: string, parameters: unknown[]) => pair.sql.query(sql, parameters);
    const partners = { table: 'owner_sync_partners', columns: ['active', 'id'] };
    const dialect = engine === 'mariadb' ? 'mysql' : engine;
    expect(await hasOwnerTrigger(run, dialect, 'owner_sync_keys', partners)).toBe(true);
    const wider = { ...partners, columns: [...partners.columns, 'note'] };
    expect(await hasOwnerTrigger(run, dialect, 'owner_sync_keys', wider)).toBe(false);
  });

  it('a partner deactivated by raw SQL is refused by both instances within the bound, and let in again once reactivated', async () => {
    const { key, partnerId } = await warmOwnedKey();
    await setActive(partnerId, false);
    await bothAnswer(key, 401);
    await setActive(partnerId, true);
    await bothAnswer(key, 200);
  });

  it('a partner deactivated and reactivated through TypeORM save is followed the same way', async () => {
    const { key, partnerId } = await warmOwnedKey();
    const partners = pair.sql.getRepository(Partner);
    const partner = await partners.findOneByOrFail({ id: partnerId });
    await partners.save({ ...partner, active: false });
    await bothAnswer(key, 401);
    await partners.save({ ...partner, active: true });
    await bothAnswer(key, 200);
  });

  it('a deleted partner is refused by both instances within the bound', async () => {
    const { key, partnerId } = await warmOwnedKey();
    await pair.sql.query(`DELETE FROM owner_sync_partners WHERE id = ${$(1)}`, [partnerId]);
    await bothAnswer(key, 401);
  });

  it('an UPDATE of a column usableWhere does not read is not a change: the key stays in', async () => {
    const { key, partnerId } = await warmOwnedKey();
    const heard = await changeWatcher(pair, engine);
    try {
      await heard.settle();
      await pair.sql.query(`UPDATE owner_sync_partners SET note = 'renamed' WHERE id = ${$(1)}`, [
        partnerId,
      ]);
      expect(await heard.changesSinceSettled()).toBe(0);
      await setActive(partnerId, true);
      expect(await heard.changesSinceSettled()).toBe(0);
      await setActive(partnerId, false);
      expect(await heard.changesSinceSettled()).toBe(1);
      await setActive(partnerId, true);
    } finally {
      await heard.close();
    }
    for (const { url } of pair.apps) {
      const headers = { authorization: `Api-Key ${key}` };
      expect((await call(`${url}/who`, { headers })).status).toBe(200);
    }
  });

  itPropagatesChanges(() => pair, {
    revoke:
      engine === 'postgres'
        ? 'UPDATE owner_sync_keys SET revoked_at = now() WHERE id = $1'
        : "UPDATE owner_sync_keys SET revoked_at = '2020-01-01 00:00:00' WHERE id = ?",
    delete: `DELETE FROM owner_sync_keys WHERE id = ${$(1)}`,
  });
});

/** Counts the changes the owner triggers report, with no wait on a clock. */
interface ChangeWatcher {
  /** Takes everything reported so far as seen. */
  settle(): Promise<void>;
  /** How many changes were reported since `settle()`, all delivered by now. */
  changesSinceSettled(): Promise<number>;
  close(): Promise<void>;
}

/**
 * On MariaDB and SQLite reads the change counter, which triggers move synchronously; on
 * PostgreSQL listens on the key table's channel and sends itself a marker after each write:
 * notifications arrive in commit order, so once the marker is in, every earlier one is too.
 */
async function changeWatcher(pair: NotifyPair, engine: Engine): Promise<ChangeWatcher> {
  if (engine !== 'postgres') {
    const version = async () =>
      Number((await pair.sql.query('SELECT version FROM owner_sync_keys_changes'))[0].version);
    let settled = await version();
    return {
      settle: async () => void (settled = await version()),
      changesSinceSettled: async () => (await version()) - settled,
      close: async () => undefined,
    };
  }
  const client = await (pair.sql.driver as any).master.connect();
  const payloads: string[] = [];
  client.on('notification', (message: { payload: string }) => payloads.push(message.payload));
  await client.query('LISTEN owner_sync_keys_changes');
  let marker = 0;
  let settledAt = 0;
  const flush = async () => {
    const mark = `marker-${++marker}`;
    await pair.sql.query("SELECT pg_notify('owner_sync_keys_changes', $1)", [mark]);
    await eventually(() => payloads.includes(mark), `${mark} to arrive`);
    return payloads.indexOf(mark);
  };
  return {
    settle: async () => void (settledAt = await flush()),
    changesSinceSettled: async () =>
      payloads.slice(settledAt, await flush()).filter((payload) => payload === '*').length,
    close: async () => client.release(true),
  };
}
