import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKey } from '../api-key.entity.js';
import { ApiKeyValidationError } from '../api-key.errors.js';
import type { ApiKeyRevokedEvent } from '../api-key.events.js';
import { ENGINES } from '../../test/support/databases.js';
import { openKeyStore, type KeyStore } from '../../test/support/key-store.js';

const DAY = 86_400_000;

describe.each(ENGINES)('dormant keys on %s', (engine) => {
  let store: KeyStore;
  let now: Date;
  const clock = () => now;
  const service = () => store.service({ clock, usageTracking: { interval: 1 } });
  const days = (n: number) => new Date(now.getTime() + n * DAY);

  beforeAll(async () => {
    store = await openKeyStore(engine);
  });
  afterAll(async () => {
    await store?.close();
  });

  /** Keys made 200 days ago, some used since, one revoked and one expired. */
  async function scenario() {
    await store.dataSource.getRepository(ApiKey).clear();
    now = new Date('2030-01-01T00:00:00.000Z');
    const keys = service();
    const neverUsed = await keys.create({ name: 'never used' });
    const usedLongAgo = await keys.create({ name: 'used long ago' });
    const usedRecently = await keys.create({ name: 'used recently' });
    const revoked = await keys.create({ name: 'revoked' });
    const expiring = await keys.create({ name: 'expiring', expiresAt: days(150) });
    await keys.revoke(revoked.apiKey.id);
    now = days(20);
    expect((await keys.verify(usedLongAgo.key)).valid).toBe(true);
    now = days(170);
    expect((await keys.verify(usedRecently.key)).valid).toBe(true);
    await keys.flushUsage();
    now = days(10); // 200 days after creation
    const newKey = await keys.create({ name: 'new' });
    return { keys, neverUsed, usedLongAgo, usedRecently, expiring, newKey };
  }

  it('finds usable keys last used, or never used and created, longer ago than unusedFor', async () => {
    const { keys } = await scenario();
    const names = async (unusedFor: number) =>
      (await keys.findDormant({ unusedFor })).map((k) => k.name).sort();
    expect(await names(90 * DAY)).toEqual(['never used', 'used long ago']);
    expect(await names(5 * DAY)).toEqual(['never used', 'used long ago', 'used recently']);
    expect(await names(190 * DAY)).toEqual(['never used']);
    expect(await names(365 * DAY)).toEqual([]);
  });

  it('the dry run says what would be revoked and changes nothing', async () => {
    const { keys, neverUsed, usedLongAgo } = await scenario();
    const events: ApiKeyRevokedEvent[] = [];
    const before = await keys.list();
    const result = await keys.revokeDormant({
      unusedFor: 90 * DAY,
      dryRun: true,
      onRevoked: (e) => void events.push(e),
    });
    expect(result.dryRun).toBe(true);
    expect(result.cutoff).toEqual(new Date(now.getTime() - 90 * DAY));
    expect(result.keys.map((k) => k.id).sort()).toEqual(
      [neverUsed.apiKey.id, usedLongAgo.apiKey.id].sort(),
    );
    expect(result.keys.every((k) => k.revokedAt === null)).toBe(true);
    expect(await keys.list()).toEqual(before);
    expect(events).toEqual([]);
    expect((await keys.verify(neverUsed.key)).valid).toBe(true);
  });

  it('the real run revokes them, emits a revoked event with the reason for each, and is idempotent', async () => {
    const { keys, neverUsed, usedLongAgo, usedRecently, newKey } = await scenario();
    const events: ApiKeyRevokedEvent[] = [];
    const result = await keys.revokeDormant({
      unusedFor: 90 * DAY,
      onRevoked: (e) => void events.push(e),
    });
    expect(result.dryRun).toBe(false);
    expect(result.keys.map((k) => k.name).sort()).toEqual(['never used', 'used long ago']);
    expect(result.keys.every((k) => k.revokedAt?.getTime() === now.getTime())).toBe(true);
    expect(await keys.verify(neverUsed.key)).toMatchObject({ valid: false, reason: 'revoked' });
    expect(await keys.verify(usedLongAgo.key)).toMatchObject({ valid: false, reason: 'revoked' });
    expect((await keys.verify(usedRecently.key)).valid).toBe(true);
    expect((await keys.verify(newKey.key)).valid).toBe(true);
    expect(events.map((e) => e.id).sort()).toEqual(result.keys.map((k) => k.id).sort());
    const event = events.find((e) => e.id === usedLongAgo.apiKey.id)!;
    expect(event).toEqual({
      type: 'revoked',
      reason: 'dormant',
      registration: 'default',
      id: usedLongAgo.apiKey.id,
      prefix: usedLongAgo.apiKey.prefix,
      name: 'used long ago',
      columns: {},
      at: now,
      lastUsedAt: new Date('2030-01-21T00:00:00.000Z'),
    });
    expect(JSON.stringify(events)).not.toContain(usedLongAgo.key.slice(-20));
    expect(JSON.stringify(events)).not.toMatch(/hash/i);
    const again = await keys.revokeDormant({ unusedFor: 90 * DAY });
    expect(again.keys).toEqual([]);
  });

  it('where narrows the keys looked at', async () => {
    const { keys } = await scenario();
    const found = await keys.findDormant({ unusedFor: 90 * DAY, where: { name: 'never used' } });
    expect(found.map((k) => k.name)).toEqual(['never used']);
  });

  it('a use this process has not written yet keeps a key alive', async () => {
    const { keys, usedLongAgo } = await scenario();
    const lazy = store.service({ clock, usageTracking: { interval: 60 * DAY } });
    expect((await lazy.verify(usedLongAgo.key)).valid).toBe(true);
    const found = await lazy.findDormant({ unusedFor: 90 * DAY });
    expect(found.map((k) => k.name)).toEqual(['never used']);
    expect((await keys.findDormant({ unusedFor: 90 * DAY })).map((k) => k.name)).toEqual([
      'never used',
    ]);
  });

  it('a check with recordUse: false does not count as a use', async () => {
    const { keys, usedLongAgo } = await scenario();
    expect((await keys.verify(usedLongAgo.key, { recordUse: false })).valid).toBe(true);
    await keys.flushUsage();
    const found = await keys.findDormant({ unusedFor: 90 * DAY });
    expect(found.map((k) => k.name).sort()).toEqual(['never used', 'used long ago']);
  });

  it('refuses an unusedFor that is not a positive duration, and a registration without usage tracking', async () => {
    const keys = service();
    for (const unusedFor of [0, -5 * DAY, Number.NaN, Infinity, '90d' as unknown as number])
      await expect(keys.revokeDormant({ unusedFor })).rejects.toThrow(ApiKeyValidationError);
    const untracked = store.service({ clock, usageTracking: false });
    await expect(untracked.findDormant({ unusedFor: DAY })).rejects.toThrow(/usageTracking/);
  });
});
