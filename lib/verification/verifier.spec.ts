import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../test/support/databases.js';
import { FakeClock } from '../../test/support/clock.js';
import { FAST_BCRYPT, openKeyStore, type KeyStore } from '../../test/support/key-store.js';
import { CountingHasher } from '../../test/support/counting-hasher.js';
import { ApiKey } from '../api-key.entity.js';
import { ApiKeyStoreUnavailableError } from '../api-key.errors.js';
import { generateKey } from '../keys/format.js';
import { secretTagOfKey } from '../keys/secret-tag.js';
import type { ApiKeyOptions } from '../api-key.options.js';

// `ApiKeyVerifier` is internal: it is tested through the service that builds it, over a real store.

/** Waits until `count` checks wait in the service's cold-path queue. */
async function untilQueued(service: object, count: number): Promise<void> {
  while ((service as any).verifier.limiter.queued < count)
    await new Promise((resolve) => setTimeout(resolve, 5));
}

describe.each(ENGINES)('verification memo and cold path on %s', (engine) => {
  let store: KeyStore;

  /** A service over the shared store with a fresh counting hasher, as a new process would have. */
  const counted = (options: ApiKeyOptions = {}) => {
    const hasher = new CountingHasher(FAST_BCRYPT);
    return { hasher, service: store.service({ ...options, hasher }) };
  };

  /**
   * A key as stored before secret tags (`secret_tag` null): its wrong secrets reach the hasher
   * and the cold-path queue until it first verifies, which is what the limiter's tests need.
   * Made before the test's own service: in the notify project, a service made earlier could
   * hear the untagging late and drop its cached rows in the middle of the test.
   */
  const createUntagged = async (name: string) => {
    const created = await store.service().create({ name });
    await store.rawUpdate(created.apiKey.prefix, { secret_tag: null });
    return created;
  };

  beforeAll(async () => {
    Logger.overrideLogger(false);
    store = await openKeyStore(engine);
  });
  afterAll(async () => {
    await store?.close();
  });

  it('runs the hasher once for a key, then answers from the memo', async () => {
    const { hasher, service } = counted();
    const { key } = await service.create({ name: 'memo' });
    expect(await service.isValid(key)).toBe(true);
    expect(hasher.verifyCalls).toBe(1);
    expect(await service.isValid(key)).toBe(true);
    expect(await service.isValid(key)).toBe(true);
    expect(hasher.verifyCalls).toBe(1);
  });

  it("refuses wrong secrets for a key that never verified by its tag: no hash, no queue, so the key's own check is never flooded", async () => {
    const { hasher, service } = counted({ coldPath: { maxConcurrent: 1, maxQueuedPerKey: 1 } });
    const { apiKey, key } = await service.create({ name: 'tagged-flood' });
    // Held: had any wrong secret reached the hasher, the rest would queue and then be "flooded".
    hasher.hold();
    const burst = await Promise.all(
      Array.from({ length: 40 }, () =>
        service.verify(`${apiKey.prefix}.${generateKey().key.slice(9)}`),
      ),
    );
    expect(new Set(burst.map((result) => !result.valid && result.reason))).toEqual(
      new Set(['bad_secret']),
    );
    expect(hasher.verifyCalls).toBe(0);
    expect((service as any).verifier.limiter.queued).toBe(0);
    // Nor is the key deferred: its own first check goes straight to the hasher.
    expect((service as any).verifier.isSuspect(apiKey.id)).toBe(false);
    hasher.release();
    expect(await service.isValid(key)).toBe(true);
    expect(hasher.verifyCalls).toBe(1);
  });

  it('gives a key stored before tags its tag on its next success; its wrong secrets then skip the hasher', async () => {
    const { apiKey, key } = await createUntagged('legacy-untagged');
    const { hasher, service } = counted();
    const wrong = () => `${apiKey.prefix}.${generateKey().key.slice(9)}`;
    expect(await service.isValid(wrong())).toBe(false);
    expect(hasher.verifyCalls).toBe(1);
    expect((await store.rawRow(apiKey.prefix))!.secret_tag).toBeNull();
    expect(await service.isValid(key)).toBe(true);
    const row = (await store.rawRow(apiKey.prefix))!;
    expect(row.secret_tag).toBe(secretTagOfKey(key, String(row.hashed_key)));
    await store.settled(apiKey.prefix);
    // Another process, with nothing memoised, refuses wrong secrets by the tag alone.
    const other = counted();
    for (let i = 0; i < 5; i++) expect(await other.service.isValid(wrong())).toBe(false);
    expect(other.hasher.verifyCalls).toBe(0);
    expect(await other.service.isValid(key)).toBe(true);
    expect(other.hasher.verifyCalls).toBe(1);
  });

  it('does not let the memo of one key vouch for another secret with the same prefix, and refuses it without hashing', async () => {
    const { hasher, service } = counted();
    const { apiKey, key } = await service.create({ name: 'memo-other-secret' });
    expect(await service.isValid(key)).toBe(true);
    // Distinct wrong secrets each time: the failure memo cannot be what answers them.
    for (let i = 0; i < 5; i++) {
      const impostor = `${apiKey.prefix}.${generateKey().key.slice(9)}`;
      expect(await service.verify(impostor)).toMatchObject({ valid: false, reason: 'bad_secret' });
    }
    expect(hasher.verifyCalls).toBe(1);
    expect(await service.isValid(key)).toBe(true);
    expect(hasher.verifyCalls).toBe(1);
  });

  it('hashes again, not refuses, when the stored hash changed since the key was memoised', async () => {
    const { hasher, service } = counted();
    const { apiKey, key } = await service.create({ name: 'memo-hash-changed' });
    expect(await service.isValid(key)).toBe(true);
    // Another process moved the row to a new secret: the memoised key says nothing about it.
    const replacement = `${apiKey.prefix}.${generateKey().key.slice(9)}`;
    await store.rawUpdate(apiKey.prefix, { hashed_key: await FAST_BCRYPT.hash(replacement) });
    expect(await service.isValid(replacement)).toBe(true);
    expect(hasher.verifyCalls).toBe(2);
  });

  it('shares one slow check among identical requests that arrive together', async () => {
    const { apiKey, key } = await createUntagged('cold-burst');
    const { hasher, service } = counted();
    hasher.hold();
    const entered = hasher.nextEntry();
    const burst = Array.from({ length: 8 }, () => service.isValid(key));
    await entered;
    hasher.release();
    expect(await Promise.all(burst)).toEqual(Array(8).fill(true));
    expect(hasher.verifyCalls).toBe(1);
    // A wrong secret sent in a burst also costs one check, then the failure memo answers it
    // (for a key without its tag, which its success just stored).
    await store.rawUpdate(apiKey.prefix, { secret_tag: null });
    const wrong = `${apiKey.prefix}.${generateKey().key.slice(9)}`;
    const other = counted();
    expect(
      await Promise.all(Array.from({ length: 4 }, () => other.service.isValid(wrong))),
    ).toEqual(Array(4).fill(false));
    expect(other.hasher.verifyCalls).toBe(1);
  });

  it('lets one key have at most coldPath.maxQueuedPerKey checks waiting, refusing more with a 401 unchecked, while other keys are still checked', async () => {
    const [flooded, fresh] = await Promise.all([
      createUntagged('flooded'),
      store.service().create({ name: 'fresh' }),
    ]);
    const { hasher, service } = counted({
      coldPath: { maxConcurrent: 1, maxQueued: 100, maxQueuedPerKey: 2 },
    });
    const wrong = () => `${flooded.apiKey.prefix}.${generateKey().key.slice(9)}`;
    hasher.hold();
    const entered = hasher.nextEntry();
    const running = service.isValid(wrong());
    await entered;
    // Three more for the flooded key while its check runs: two may wait, the third is refused.
    const finished: string[] = [];
    const attempts = [1, 2, 3].map((i) =>
      service
        .verify(wrong())
        .then((result) => void finished.push(`flooded ${i}: ${result.valid || result.reason}`)),
    );
    // The refusal is the key's own doing and the key never verified here: a 401, not a 503
    // that would tell the prefix's key is active.
    await attempts[2];
    expect(finished).toEqual(['flooded 3: flooded']);
    const freshCheck = service
      .isValid(fresh.key)
      .then((valid) => void finished.push(`fresh: ${valid}`));
    // Let the fresh key's read finish and its check join the queue, behind the flooded key's two.
    await untilQueued(service, 3);
    hasher.release();
    expect(await running).toBe(false);
    await Promise.all([...attempts, freshCheck]);
    // The fresh key came last but took its turn before the flooded key's waiting checks.
    expect(finished.slice(1)).toEqual([
      'fresh: true',
      'flooded 1: bad_secret',
      'flooded 2: bad_secret',
    ]);
    expect(hasher.verifyCalls).toBe(4);
  });

  it('answers a burst of distinct wrong secrets for a cold active key with 401s only, like an unknown prefix', async () => {
    const { apiKey } = await createUntagged('burst-target');
    const { hasher, service } = counted({ coldPath: { maxConcurrent: 1, maxQueuedPerKey: 10 } });
    const burst = Array.from({ length: 30 }, () =>
      service.verify(`${apiKey.prefix}.${generateKey().key.slice(9)}`),
    );
    const reasons = (await Promise.allSettled(burst)).map((settled) =>
      settled.status === 'fulfilled' && !settled.value.valid ? settled.value.reason : settled,
    );
    expect(reasons.filter((reason) => reason === 'bad_secret')).toHaveLength(11);
    expect(reasons.filter((reason) => reason === 'flooded')).toHaveLength(19);
    expect(hasher.verifyCalls).toBe(11);
  });

  it('still answers 503 to a key that verified here, when its share of the queue is full', async () => {
    const { apiKey, key } = await createUntagged('memo-off-flood');
    const { hasher, service } = counted({
      verificationMemo: false,
      coldPath: { maxConcurrent: 1, maxQueuedPerKey: 1 },
    });
    expect(await service.isValid(key)).toBe(true);
    await store.rawUpdate(apiKey.prefix, { secret_tag: null });
    hasher.hold();
    const entered = hasher.nextEntry();
    const wrong = () => `${apiKey.prefix}.${generateKey().key.slice(9)}`;
    const running = service.isValid(wrong());
    await entered;
    const waiting = service.isValid(wrong());
    // Without the memo there is no telling whether the key verified here, so no 401 unchecked.
    await expect(service.verify(key)).rejects.toBeInstanceOf(ApiKeyStoreUnavailableError);
    hasher.release();
    expect(await Promise.all([running, waiting])).toEqual([false, false]);
  });

  it('defers keys that failed a slow check: a new key is checked next, and finds room in the queue', async () => {
    const clock = new FakeClock();
    const attacked = await Promise.all(
      ['known-1', 'known-2', 'known-3'].map((name) => createUntagged(name)),
    );
    const { hasher, service } = counted({
      clock: clock.now,
      coldPath: { maxConcurrent: 1, maxQueued: 6, maxQueuedPerKey: 10 },
    });
    const fresh = await service.create({ name: 'new-key' });
    const wrong = (i: number) => `${attacked[i % 3].apiKey.prefix}.${generateKey().key.slice(9)}`;
    // Each known prefix has failed once: its further checks are deferred.
    for (let i = 0; i < 3; i++) expect(await service.isValid(wrong(i))).toBe(false);
    hasher.hold();
    const entered = hasher.nextEntry();
    const finished: string[] = [];
    const flood = Array.from({ length: 4 }, (_, i) =>
      service.isValid(wrong(i)).then((valid) => void finished.push(`flood ${i}: ${valid}`)),
    );
    await entered;
    // Three deferred checks are waiting: the deferred share (half of 6) is full.
    await untilQueued(service, 3);
    expect(await service.verify(wrong(1))).toMatchObject({ reason: 'flooded' });
    const freshCheck = service
      .isValid(fresh.key)
      .then((valid) => void finished.push(`new key: ${valid}`));
    await untilQueued(service, 4);
    hasher.release();
    await Promise.all([...flood, freshCheck]);
    // The check that held the hasher ends first (which flood request it was depends on the order
    // their rows were read); the new key's check is the very next, ahead of the deferred ones.
    expect(finished[0]).toMatch(/^flood \d: false$/);
    expect(finished[1]).toBe('new key: true');
    // A minute after its last failure a key is no longer deferred.
    clock.advance(60_000);
    expect((service as any).verifier.isSuspect(attacked[0].apiKey.id)).toBe(false);
    expect((service as any).verifier.isSuspect(attacked[1].apiKey.id)).toBe(false);
  });

  it('defers a second secret for a key already being checked, so a burst over fresh prefixes leaves room for a new key', async () => {
    const targets = await Promise.all(
      ['burst-1', 'burst-2', 'burst-3'].map((name) => createUntagged(name)),
    );
    const { hasher, service } = counted({
      coldPath: { maxConcurrent: 1, maxQueued: 6, maxQueuedPerKey: 10 },
    });
    const fresh = await service.create({ name: 'burst-new-key' });
    hasher.hold();
    const entered = hasher.nextEntry();
    const finished: string[] = [];
    // Four distinct wrong secrets for each prefix, none checked yet.
    const burst = targets.flatMap(({ apiKey }, k) =>
      Array.from({ length: 4 }, (_, i) =>
        service
          .verify(`${apiKey.prefix}.${generateKey().key.slice(9)}`)
          .then((result) => void finished.push(`${k}.${i}: ${result.valid || result.reason}`)),
      ),
    );
    await entered;
    const freshCheck = service
      .isValid(fresh.key)
      .then((valid) => void finished.push(`new key: ${valid}`));
    await untilQueued(service, 6);
    hasher.release();
    await Promise.all([...burst, freshCheck]);
    // One check per prefix went first, then the new key; the rest waited or were refused unchecked.
    const checked = finished.filter((line) => !line.endsWith('flooded'));
    expect(checked.slice(0, 4)).toEqual([
      '0.0: bad_secret',
      '1.0: bad_secret',
      '2.0: bad_secret',
      'new key: true',
    ]);
    expect(finished.filter((line) => line.endsWith('flooded'))).toHaveLength(6);
  });

  it('applies a revocation made by another process at once, though the key is memoised here', async () => {
    const { hasher, service } = counted();
    const { apiKey, key } = await service.create({ name: 'memo-revoked' });
    expect(await service.isValid(key)).toBe(true);
    expect(await service.isValid(key)).toBe(true);
    await store.service().revoke(apiKey.id);
    await store.settled(apiKey.prefix);
    expect(await service.verify(key)).toMatchObject({ valid: false, reason: 'revoked' });
    expect(hasher.verifyCalls).toBe(1);
  });

  it('applies an expiry set by another process at once, though the key is memoised here', async () => {
    const clock = new FakeClock();
    const { hasher, service } = counted({ clock: clock.now });
    const { apiKey, key } = await service.create({ name: 'memo-expired' });
    expect(await service.isValid(key)).toBe(true);
    await store.dataSource.getRepository(ApiKey).update(apiKey.id, { expiresAt: clock.now() });
    await store.settled(apiKey.prefix);
    expect(await service.verify(key)).toMatchObject({ valid: false, reason: 'expired' });
    expect(hasher.verifyCalls).toBe(1);
  });

  it('checks again when the stored hash changed, and trusts only the new one', async () => {
    const { hasher, service } = counted();
    const { apiKey, key } = await service.create({ name: 'memo-rehashed' });
    expect(await service.isValid(key)).toBe(true);
    await store.rawUpdate(apiKey.prefix, { hashed_key: await FAST_BCRYPT.hash(key) });
    expect(await service.isValid(key)).toBe(true);
    expect(hasher.verifyCalls).toBe(2);
    // The row now belongs to another secret: the memoised success must not carry over.
    await store.rawUpdate(apiKey.prefix, { hashed_key: await FAST_BCRYPT.hash(generateKey().key) });
    expect(await service.verify(key)).toMatchObject({ valid: false, reason: 'bad_secret' });
    expect(hasher.verifyCalls).toBe(3);
  });

  it('runs the hasher once for a repeated bad secret on a known prefix, and still accepts the right key', async () => {
    const { apiKey, key } = await createUntagged('memo-failures');
    const { hasher, service } = counted();
    const wrong = `${apiKey.prefix}.${generateKey().key.slice(9)}`;
    for (let i = 0; i < 5; i++)
      expect(await service.verify(wrong)).toMatchObject({ valid: false, reason: 'bad_secret' });
    expect(hasher.verifyCalls).toBe(1);
    const anotherWrong = `${apiKey.prefix}.${generateKey().key.slice(9)}`;
    expect(await service.isValid(anotherWrong)).toBe(false);
    expect(hasher.verifyCalls).toBe(2);
    expect(await service.isValid(key)).toBe(true);
    expect(hasher.verifyCalls).toBe(3);
  });

  it('forgets a remembered failure when the stored hash changes', async () => {
    const { apiKey } = await createUntagged('memo-failure-rehash');
    const { service } = counted();
    const replacement = `${apiKey.prefix}.${generateKey().key.slice(9)}`;
    expect(await service.isValid(replacement)).toBe(false);
    await store.rawUpdate(apiKey.prefix, { hashed_key: await FAST_BCRYPT.hash(replacement) });
    expect(await service.isValid(replacement)).toBe(true);
  });

  it('hashes every bad secret when failureMemoEntries is 0', async () => {
    const { apiKey } = await createUntagged('no-failure-memo');
    const { hasher, service } = counted({ coldPath: { failureMemoEntries: 0 } });
    const wrong = `${apiKey.prefix}.${generateKey().key.slice(9)}`;
    for (let i = 0; i < 3; i++) expect(await service.isValid(wrong)).toBe(false);
    expect(hasher.verifyCalls).toBe(3);
  });

  it('runs the hasher on every check with verificationMemo: false', async () => {
    const { hasher, service } = counted({ verificationMemo: false });
    const { key } = await service.create({ name: 'no-memo' });
    for (let i = 0; i < 4; i++) expect(await service.isValid(key)).toBe(true);
    expect(hasher.verifyCalls).toBe(4);
  });

  it('keeps at most maxEntries keys memoised, evicting the least recently used', async () => {
    const { hasher, service } = counted({ verificationMemo: { maxEntries: 2 } });
    const [a, b, c] = await Promise.all(
      ['lru-a', 'lru-b', 'lru-c'].map((name) => service.create({ name })),
    );
    for (const { key } of [a, b, c]) expect(await service.isValid(key)).toBe(true);
    expect(hasher.verifyCalls).toBe(3);
    // a was evicted by c; b and c are memoised.
    expect(await service.isValid(c.key)).toBe(true);
    expect(hasher.verifyCalls).toBe(3);
    expect(await service.isValid(a.key)).toBe(true);
    expect(hasher.verifyCalls).toBe(4);
    // Memoising a again evicted b, the least recently used; c was used more recently.
    expect(await service.isValid(c.key)).toBe(true);
    expect(hasher.verifyCalls).toBe(4);
    expect(await service.isValid(b.key)).toBe(true);
    expect(hasher.verifyCalls).toBe(5);
  });

  it('runs at most coldPath.maxConcurrent hashes at once', async () => {
    const { hasher, service } = counted({ coldPath: { maxConcurrent: 2, maxQueued: 10 } });
    const created = await Promise.all(
      Array.from({ length: 5 }, (_, i) => service.create({ name: `cold-${i}` })),
    );
    hasher.hold();
    const twoInside = Promise.all([hasher.nextEntry(), hasher.nextEntry()]);
    const checks = created.map(({ key }) => service.isValid(key));
    await twoInside;
    expect(hasher.running).toBe(2);
    hasher.release();
    expect(await Promise.all(checks)).toEqual([true, true, true, true, true]);
    expect(hasher.peak).toBe(2);
    expect(hasher.verifyCalls).toBe(5);
  });

  it('refuses with ApiKeyStoreUnavailableError, never a pass, when the cold-path queue is full', async () => {
    const { hasher, service } = counted({ coldPath: { maxConcurrent: 1, maxQueued: 0 } });
    const [first, second] = await Promise.all([
      service.create({ name: 'queue-1' }),
      service.create({ name: 'queue-2' }),
    ]);
    hasher.hold();
    const entered = hasher.nextEntry();
    const firstCheck = service.isValid(first.key);
    await entered;
    await expect(service.verify(second.key)).rejects.toBeInstanceOf(ApiKeyStoreUnavailableError);
    // A memoised key needs no slot, so it is not refused while the queue is full.
    hasher.release();
    expect(await firstCheck).toBe(true);
    hasher.hold();
    const blocker = (await service.create({ name: 'queue-3' })).key;
    const blockerEntered = hasher.nextEntry();
    const blocking = service.isValid(blocker);
    await blockerEntered;
    expect(await service.isValid(first.key)).toBe(true);
    hasher.release();
    expect(await blocking).toBe(true);
    expect(await service.isValid(second.key)).toBe(true);
  });
});
