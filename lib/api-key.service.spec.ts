import 'reflect-metadata';
import { createHash } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { Entity, JoinColumn, ManyToOne, PrimaryColumn, type Repository } from 'typeorm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ENGINES } from '../test/support/databases.js';
import { FakeClock } from '../test/support/clock.js';
import { FAST_BCRYPT, openKeyStore, type KeyStore } from '../test/support/key-store.js';
import { AbstractApiKey, ApiKey } from './api-key.entity.js';
import {
  ApiKeyNotFoundError,
  ApiKeyRevocationError,
  ApiKeyStoreUnavailableError,
  ApiKeyValidationError,
} from './api-key.errors.js';
import { generateKey } from './keys/format.js';
import { secretTagOfKey } from './keys/secret-tag.js';
import { MANAGED_FIELDS } from './store/input.js';
import { BcryptApiKeyHasher, HmacSha256ApiKeyHasher, type ApiKeyHasher } from './keys/hasher.js';
import type { ApiKeyService } from './api-key.service.js';

/**
 * DRF API Key 2.x's hasher format, `sha512$$<hex>`, written out here as the kind of hasher an
 * app migrating from another system would pass in `legacyHashers`.
 */
class Sha512ApiKeyHasher implements ApiKeyHasher {
  readonly algorithm = 'sha512';
  async hash(key: string): Promise<string> {
    return `sha512$$${createHash('sha512').update(key).digest('hex')}`;
  }
  async verify(key: string, hashed: string): Promise<boolean> {
    return (await this.hash(key)) === hashed;
  }
  recognizes(hashed: string): boolean {
    return /^sha512\$\$[0-9a-f]{128}$/.test(hashed);
  }
  needsRehash(): boolean {
    return false;
  }
}

@Entity('service_spec_owners')
class Owner {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;
}

@Entity('service_spec_owned_keys')
class OwnedApiKey extends AbstractApiKey {
  @ManyToOne(() => Owner, { nullable: false, onDelete: 'CASCADE' })
  @JoinColumn({ name: 'owner_id' })
  owner!: Owner;
}

const HMAC = new HmacSha256ApiKeyHasher({ secret: 'service-spec-pepper-of-32-bytes-or-more' });

describe.each(ENGINES)('ApiKeyService on %s', (engine) => {
  let store: KeyStore;
  let clock: FakeClock;
  let service: ApiKeyService;
  let repository: Repository<ApiKey>;

  const countRows = () => repository.count();
  /** The stored hash of a key, read the way the service reads it. */
  const storedHash = async (id: string) =>
    (
      await repository
        .createQueryBuilder('k')
        .addSelect('k.hashedKey')
        .where('k.id = :id', { id })
        .getOneOrFail()
    ).hashedKey;
  /** The stored secret tag of a key, as `secretTagOfKey` makes it for its stored hash. */
  const storedTag = async (id: string) =>
    (
      await repository
        .createQueryBuilder('k')
        .addSelect('k.secretTag')
        .where('k.id = :id', { id })
        .getOneOrFail()
    ).secretTag;

  beforeAll(async () => {
    Logger.overrideLogger(false);
    store = await openKeyStore(engine);
    repository = store.dataSource.getRepository(ApiKey);
  });
  afterAll(async () => {
    await store?.close();
  });
  beforeEach(() => {
    clock = new FakeClock();
    service = store.service({ clock: clock.now });
  });

  describe('create', () => {
    it('returns the entity and the plaintext key, and the key verifies (DRF 16)', async () => {
      const { apiKey, key } = await service.create({
        name: 'billing-worker',
        scopes: ['invoices:read'],
      });
      expect(key).toMatch(/^[A-Za-z0-9]{8}\.[A-Za-z0-9]{32}$/);
      expect(apiKey).toBeInstanceOf(ApiKey);
      expect(apiKey.id).toMatch(
        /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      );
      expect(apiKey.prefix).toBe(key.slice(0, 8));
      expect(apiKey.name).toBe('billing-worker');
      expect(apiKey.scopes).toEqual(['invoices:read']);
      expect(apiKey.createdAt).toEqual(clock.now());
      expect(apiKey).toMatchObject({
        expiresAt: null,
        revokedAt: null,
        lastUsedAt: null,
        revoked: false,
      });
      expect('hashedKey' in apiKey).toBe(false);
      expect('secretTag' in apiKey).toBe(false);
      expect(await service.isValid(key)).toBe(true);
    });

    it('stores a hash, never the key: no column of the row holds the key or its secret', async () => {
      const { apiKey, key } = await service.create({ name: 'stored-row' });
      const row = await store.rawRow(apiKey.prefix);
      expect(row).toBeDefined();
      expect(row!.hashed_key).toMatch(/^\$2b\$04\$/);
      expect(row!.hashed_key).not.toBe(key);
      // Beside it, the key's tag: 32 bits of its SHA-256, then 32 bits binding it to the hash.
      expect(row!.secret_tag).toBe(secretTagOfKey(key, String(row!.hashed_key)));
      expect(row!.secret_tag).toMatch(/^[0-9a-f]{16}$/);
      const secret = key.slice(9);
      for (const [column, value] of Object.entries(row!)) {
        const text = value instanceof Date ? value.toISOString() : String(value);
        expect(text, column).not.toContain(secret);
        expect(text, column).not.toContain(key);
      }
      expect(row!.prefix).toBe(apiKey.prefix);
    });

    it('does not accept the stored hash as a key (DRF 16)', async () => {
      const { apiKey } = await service.create({ name: 'hash-as-key' });
      const hashed = await storedHash(apiKey.id);
      expect(await service.isValid(hashed)).toBe(false);
      expect(await service.isValid(`${apiKey.prefix}.${hashed.slice(-32)}`)).toBe(false);
    });

    it.each([
      ['no name', {}],
      ['an empty name', { name: '' }],
      ['a blank name', { name: '   ' }],
      ['a name of 101 characters', { name: 'n'.repeat(101) }],
      ['a name that is not a string', { name: 42 }],
    ])('refuses %s and writes nothing (DRF 17)', async (_case, input) => {
      const before = await countRows();
      await expect(service.create(input as any)).rejects.toBeInstanceOf(ApiKeyValidationError);
      expect(await countRows()).toBe(before);
    });

    it('accepts a name of exactly 100 characters', async () => {
      const { apiKey } = await service.create({ name: 'n'.repeat(100) });
      expect((await service.findOne(apiKey.id))!.name).toBe('n'.repeat(100));
    });

    it.each([...MANAGED_FIELDS])(
      'refuses the managed field %s and writes nothing',
      async (field) => {
        const before = await countRows();
        await expect(
          service.create({ name: 'managed', [field]: field === 'revoked' ? false : 'x' } as any),
        ).rejects.toThrow(
          new ApiKeyValidationError(`${field} is set by the service and cannot be given.`),
        );
        expect(await countRows()).toBe(before);
      },
    );

    it('refuses an expiry now or in the past, or one that is not a valid Date, and writes nothing', async () => {
      const before = await countRows();
      for (const expiresAt of [
        clock.now(),
        new Date(clock.now().getTime() - 1),
        new Date('nope'),
        '2099-01-01' as unknown as Date,
      ]) {
        await expect(
          service.create({ name: 'expired-at-birth', expiresAt }),
        ).rejects.toBeInstanceOf(ApiKeyValidationError);
      }
      expect(await countRows()).toBe(before);
      const { apiKey } = await service.create({
        name: 'just-in-time',
        expiresAt: new Date(clock.now().getTime() + 1),
      });
      expect(apiKey.expiresAt).toEqual(new Date(clock.now().getTime() + 1));
    });

    it('validates scopes and drops duplicates', async () => {
      const before = await countRows();
      for (const scopes of [
        ['has space'],
        ['a,b'],
        ['projects:*'],
        ['*'],
        [''],
        ['s'.repeat(101)],
        [42],
        'projects:read',
      ]) {
        await expect(
          service.create({ name: 'bad-scopes', scopes: scopes as string[] }),
        ).rejects.toBeInstanceOf(ApiKeyValidationError);
      }
      expect(await countRows()).toBe(before);
      const { apiKey } = await service.create({
        name: 'scoped',
        scopes: ['projects:read', 'projects:write', 'projects:read', 'a.b_c-d'],
      });
      expect((await service.findOne(apiKey.id))!.scopes).toEqual([
        'projects:read',
        'projects:write',
        'a.b_c-d',
      ]);
    });

    it('gives every key its own prefix and id', async () => {
      const created = await Promise.all(
        Array.from({ length: 20 }, (_, i) => service.create({ name: `bulk-${i}` })),
      );
      expect(new Set(created.map((c) => c.apiKey.prefix)).size).toBe(20);
      expect(new Set(created.map((c) => c.apiKey.id)).size).toBe(20);
      expect(new Set(created.map((c) => c.key)).size).toBe(20);
    });

    it('puts the brand on keys and still verifies them', async () => {
      const branded = store.service({ brand: 'sk_test_', clock: clock.now });
      const { apiKey, key } = await branded.create({ name: 'branded' });
      expect(key).toMatch(/^sk_test_[A-Za-z0-9]{8}\.[A-Za-z0-9]{32}$/);
      expect(apiKey.prefix).toBe(key.slice(8, 16));
      expect(await branded.isValid(key)).toBe(true);
      expect(await branded.isValid(key.slice(8))).toBe(false);
      expect(await service.isValid(key)).toBe(false);
    });
  });

  describe('findByKey and verify', () => {
    it('finds the same key from its plaintext (DRF 22)', async () => {
      const { apiKey, key } = await service.create({ name: 'find-me', scopes: ['a'] });
      const found = await service.findByKey(key);
      expect(found).toBeInstanceOf(ApiKey);
      expect({ ...found }).toEqual({ ...apiKey });
    });

    it('finds nothing for "foobar" (DRF 23) or for the right prefix with a wrong secret (DRF 24)', async () => {
      const { apiKey, key } = await service.create({ name: 'almost' });
      expect(await service.findByKey('foobar')).toBeNull();
      expect(await service.findByKey(`${apiKey.prefix}.foobar`)).toBeNull();
      expect(await service.findByKey(`${apiKey.prefix}.${generateKey().key.slice(9)}`)).toBeNull();
      expect(
        await service.findByKey(key.toUpperCase() === key ? key.toLowerCase() : key.toUpperCase()),
      ).toBeNull();
    });

    it('gives its name as its string form (DRF 25)', async () => {
      const { apiKey, key } = await service.create({ name: 'Reporting job' });
      expect(String(apiKey)).toBe('Reporting job');
      expect(`${(await service.findByKey(key))!}`).toBe('Reporting job');
    });

    it('says why a key failed: malformed, unknown, bad_secret, revoked, expired', async () => {
      const revokedKey = await service.create({ name: 'to-revoke' });
      await service.revoke(revokedKey.apiKey.id);
      const expiring = await service.create({
        name: 'to-expire',
        expiresAt: new Date(clock.now().getTime() + 60_000),
      });
      const good = await service.create({ name: 'good' });
      const unknown = generateKey().key;

      expect(await service.verify('foobar')).toEqual({ valid: false, reason: 'malformed' });
      expect(await service.verify(undefined as unknown as string)).toEqual({
        valid: false,
        reason: 'malformed',
      });
      expect(await service.verify(unknown)).toEqual({
        valid: false,
        reason: 'unknown',
        prefix: unknown.slice(0, 8),
      });
      expect(await service.verify(`${good.apiKey.prefix}.${generateKey().key.slice(9)}`)).toEqual({
        valid: false,
        reason: 'bad_secret',
        prefix: good.apiKey.prefix,
        keyId: good.apiKey.id,
      });
      expect(await service.verify(revokedKey.key)).toEqual({
        valid: false,
        reason: 'revoked',
        prefix: revokedKey.apiKey.prefix,
        keyId: revokedKey.apiKey.id,
      });
      clock.advance(60_000);
      expect(await service.verify(expiring.key)).toEqual({
        valid: false,
        reason: 'expired',
        prefix: expiring.apiKey.prefix,
        keyId: expiring.apiKey.id,
      });
      const ok = await service.verify(good.key);
      expect(ok.valid).toBe(true);
      expect(ok.valid && ok.apiKey.id).toBe(good.apiKey.id);
    });

    it('treats expiresAt == now as expired and one millisecond before as valid', async () => {
      const expiresAt = new Date(clock.now().getTime() + 10_000);
      const { key } = await service.create({ name: 'boundary', expiresAt });
      clock.set(new Date(expiresAt.getTime() - 1));
      expect(await service.verify(key)).toMatchObject({ valid: true });
      clock.set(expiresAt);
      expect(await service.verify(key)).toMatchObject({ valid: false, reason: 'expired' });
      clock.set(new Date(expiresAt.getTime() + 1));
      expect(await service.isValid(key)).toBe(false);
      // Expiry is judged against the clock on every call, not latched.
      clock.set(new Date(expiresAt.getTime() - 1));
      expect(await service.isValid(key)).toBe(true);
    });

    it('refuses a revoked key before hashing, even with the right secret', async () => {
      const { apiKey, key } = await service.create({ name: 'revoked-right-secret' });
      expect(await service.isValid(key)).toBe(true);
      await service.revoke(apiKey.prefix);
      expect(await service.isValid(key)).toBe(false);
      expect(await service.findByKey(key)).toBeNull();
    });
  });

  describe('revoke', () => {
    it('revokes by id and by prefix, and the key stops working', async () => {
      const byId = await service.create({ name: 'by-id' });
      const byPrefix = await service.create({ name: 'by-prefix' });
      const revokedById = await service.revoke(byId.apiKey.id);
      const revokedByPrefix = await service.revoke(byPrefix.apiKey.prefix);
      for (const [revoked, created] of [
        [revokedById, byId],
        [revokedByPrefix, byPrefix],
      ] as const) {
        expect(revoked.id).toBe(created.apiKey.id);
        expect(revoked.revoked).toBe(true);
        expect(revoked.revokedAt).toEqual(clock.now());
        expect(await service.isValid(created.key)).toBe(false);
        expect((await store.rawRow(created.apiKey.prefix))!.revoked_at).not.toBeNull();
      }
    });

    it('is idempotent: a second revoke keeps the first revokedAt', async () => {
      const { apiKey } = await service.create({ name: 'twice' });
      const first = await service.revoke(apiKey.id);
      clock.advance(5_000);
      const second = await service.revoke(apiKey.prefix);
      expect(second.revokedAt).toEqual(first.revokedAt);
      expect((await service.findOne(apiKey.id))!.revokedAt).toEqual(first.revokedAt);
    });

    it('throws ApiKeyNotFoundError for an unknown id or prefix', async () => {
      await expect(service.revoke('00000000-0000-4000-8000-000000000000')).rejects.toBeInstanceOf(
        ApiKeyNotFoundError,
      );
      await expect(service.revoke('Zz9Zz9Zz')).rejects.toBeInstanceOf(ApiKeyNotFoundError);
      await expect(service.revoke('')).rejects.toBeInstanceOf(ApiKeyNotFoundError);
    });

    it('cannot be undone by saving a loaded revoked key with revokedAt = null (DRF 18)', async () => {
      const { apiKey, key } = await service.create({ name: 'no-undo' });
      await service.revoke(apiKey.id);
      const loaded = await repository.findOneByOrFail({ id: apiKey.id });
      loaded.revokedAt = null;
      await expect(repository.save(loaded)).rejects.toBeInstanceOf(ApiKeyRevocationError);
      expect((await store.rawRow(apiKey.prefix))!.revoked_at).not.toBeNull();
      expect(await service.isValid(key)).toBe(false);
    });

    it('cannot be undone by saving a bare { id, revokedAt: null }', async () => {
      const { apiKey } = await service.create({ name: 'no-undo-partial' });
      await service.revoke(apiKey.id);
      await expect(repository.save({ id: apiKey.id, revokedAt: null })).rejects.toBeInstanceOf(
        ApiKeyRevocationError,
      );
      expect((await store.rawRow(apiKey.prefix))!.revoked_at).not.toBeNull();
    });

    it('cannot be undone by repository.update() (DRF loophole 2: QuerySet.update)', async () => {
      const { apiKey } = await service.create({ name: 'no-undo-update' });
      await service.revoke(apiKey.id);
      await expect(repository.update(apiKey.id, { revokedAt: null })).rejects.toBeInstanceOf(
        ApiKeyRevocationError,
      );
      await expect(
        repository.update({ prefix: apiKey.prefix }, { revokedAt: null, name: 'sneaky' }),
      ).rejects.toBeInstanceOf(ApiKeyRevocationError);
      const row = await store.rawRow(apiKey.prefix);
      expect(row!.revoked_at).not.toBeNull();
      expect(row!.name).toBe('no-undo-update');
    });

    it('cannot be undone on the same in-memory instance that revoked it (DRF loophole 1)', async () => {
      const { apiKey } = await service.create({ name: 'same-instance' });
      const entity = await repository.findOneByOrFail({ id: apiKey.id });
      entity.revokedAt = clock.now();
      await repository.save(entity);
      entity.revokedAt = null;
      await expect(repository.save(entity)).rejects.toBeInstanceOf(ApiKeyRevocationError);
      expect((await store.rawRow(apiKey.prefix))!.revoked_at).not.toBeNull();
    });

    it('still lets other columns of a revoked key be saved', async () => {
      const { apiKey } = await service.create({ name: 'rename-me' });
      await service.revoke(apiKey.id);
      const loaded = await repository.findOneByOrFail({ id: apiKey.id });
      loaded.name = 'renamed';
      await repository.save(loaded);
      const reloaded = (await service.findOne(apiKey.id))!;
      expect(reloaded.name).toBe('renamed');
      expect(reloaded.revoked).toBe(true);
    });
  });

  describe('list and findOne', () => {
    let listing: KeyStore;
    let lister: ApiKeyService;
    let listClock: FakeClock;
    const made: Record<string, string> = {};

    beforeAll(async () => {
      // A store of its own, so other tests' keys do not change what "every key" is.
      listing = await openKeyStore(engine);
      listClock = new FakeClock();
      lister = listing.service({ clock: listClock.now });
      for (const name of ['oldest', 'revoked', 'expiring', 'newest']) {
        const { apiKey } = await lister.create({
          name,
          expiresAt: name === 'expiring' ? new Date(listClock.now().getTime() + 30_000) : null,
        });
        made[name] = apiKey.id;
        listClock.advance(1_000);
      }
      await lister.revoke(made.revoked);
    });
    afterAll(async () => {
      await listing?.close();
    });

    it('lists every key newest first, without hashes', async () => {
      const keys = await lister.list();
      expect(keys.map((k) => k.name)).toEqual(['newest', 'expiring', 'revoked', 'oldest']);
      for (const k of keys) {
        expect(k).toBeInstanceOf(ApiKey);
        expect('hashedKey' in k).toBe(false);
        expect('secretTag' in k).toBe(false);
        expect(JSON.stringify(k)).not.toMatch(/hashedKey|hashed_key|secretTag|secret_tag|\$2b\$/);
      }
    });

    it('leaves out revoked and expired keys with activeOnly', async () => {
      expect((await lister.list({ activeOnly: true })).map((k) => k.name)).toEqual([
        'newest',
        'expiring',
        'oldest',
      ]);
      listClock.set((await lister.findOne(made.expiring))!.expiresAt!);
      expect((await lister.list({ activeOnly: true })).map((k) => k.name)).toEqual([
        'newest',
        'oldest',
      ]);
    });

    it('pages with take and skip', async () => {
      expect((await lister.list({ take: 2 })).map((k) => k.name)).toEqual(['newest', 'expiring']);
      expect((await lister.list({ take: 2, skip: 2 })).map((k) => k.name)).toEqual([
        'revoked',
        'oldest',
      ]);
    });

    it('finds one key by id or prefix, without its hash, and null for anything else', async () => {
      const byId = (await lister.findOne(made.oldest))!;
      expect(byId.name).toBe('oldest');
      expect('hashedKey' in byId).toBe(false);
      expect((await lister.findOne(byId.prefix))!.id).toBe(made.oldest);
      expect(await lister.findOne('Zz9Zz9Zz')).toBeNull();
      expect(await lister.findOne('00000000-0000-4000-8000-000000000000')).toBeNull();
      expect(await lister.findOne('')).toBeNull();
      expect(await lister.findOne('x'.repeat(65))).toBeNull();
      expect(await lister.findOne(42 as unknown as string)).toBeNull();
    });
  });

  describe('JSON', () => {
    it('never serialises hashedKey nor secretTag, even when they were loaded', async () => {
      const { apiKey } = await service.create({ name: 'json' });
      const withHash = await repository
        .createQueryBuilder('k')
        .addSelect('k.hashedKey')
        .addSelect('k.secretTag')
        .where('k.id = :id', { id: apiKey.id })
        .getOneOrFail();
      expect(withHash.hashedKey).toMatch(/^\$2b\$/);
      expect(withHash.secretTag).toMatch(/^[0-9a-f]{16}$/);
      const json = JSON.parse(JSON.stringify(withHash));
      expect(json).not.toHaveProperty('hashedKey');
      expect(json).not.toHaveProperty('secretTag');
      expect(JSON.stringify(withHash)).not.toContain(withHash.hashedKey);
      expect(JSON.stringify(withHash)).not.toContain(withHash.secretTag);
      expect(json).toMatchObject({
        id: apiKey.id,
        prefix: apiKey.prefix,
        name: 'json',
        revoked: false,
      });
    });
  });

  describe('hash upgrades', () => {
    it('verifies a bcrypt cost-4 key under a cost-5 hasher and rewrites its hash at cost 5 (DRF 21)', async () => {
      const { apiKey, key } = await service.create({ name: 'upgrade-cost' });
      expect(await storedHash(apiKey.id)).toMatch(/^\$2b\$04\$/);
      const stronger = store.service({
        hasher: new BcryptApiKeyHasher({ cost: 5 }),
        clock: clock.now,
      });
      expect(await stronger.isValid(`${apiKey.prefix}.${'x'.repeat(32)}`)).toBe(false);
      expect(await storedHash(apiKey.id)).toMatch(/^\$2b\$04\$/);
      expect(await stronger.isValid(key)).toBe(true);
      const upgraded = await storedHash(apiKey.id);
      expect(upgraded).toMatch(/^\$2b\$05\$/);
      expect(await new BcryptApiKeyHasher({ cost: 5 }).verify(key, upgraded)).toBe(true);
      // The tag is rewritten with the hash, bound to the new one.
      expect(await storedTag(apiKey.id)).toBe(secretTagOfKey(key, upgraded));
      // A fresh process, with nothing memoised, accepts the key under its new hash.
      expect(
        await store
          .service({ hasher: new BcryptApiKeyHasher({ cost: 5 }), clock: clock.now })
          .isValid(key),
      ).toBe(true);
    });

    it('verifies a bcrypt key under an HMAC hasher and moves it to HMAC', async () => {
      const { apiKey, key } = await service.create({ name: 'upgrade-hmac' });
      const hmac = store.service({ hasher: HMAC, clock: clock.now });
      expect(await hmac.isValid(key)).toBe(true);
      const moved = await storedHash(apiKey.id);
      expect(moved).toMatch(/^hmac-sha256\$[0-9a-f]{64}$/);
      expect(await HMAC.verify(key, moved)).toBe(true);
      // An HMAC hash is as fast as a tag: none is kept, so the table holds nothing testable without the pepper.
      expect(await storedTag(apiKey.id)).toBeNull();
      expect(await store.service({ hasher: HMAC, clock: clock.now }).isValid(key)).toBe(true);
    });

    it('verifies a key whose hash a legacy hasher made, and re-hashes it with the current one', async () => {
      const { apiKey, key } = await service.create({ name: 'legacy' });
      const legacy = new Sha512ApiKeyHasher();
      await store.rawUpdate(apiKey.prefix, { hashed_key: await legacy.hash(key) });
      expect(await store.service({ clock: clock.now }).isValid(key)).toBe(false);
      const migrating = store.service({ hasher: HMAC, legacyHashers: [legacy], clock: clock.now });
      expect(await migrating.isValid(`${apiKey.prefix}.${'y'.repeat(32)}`)).toBe(false);
      expect(await storedHash(apiKey.id)).toMatch(/^sha512\$\$/);
      expect(await migrating.isValid(key)).toBe(true);
      expect(await storedHash(apiKey.id)).toMatch(/^hmac-sha256\$/);
    });

    it('rotates the HMAC secret: a key hashed under the old secret verifies through legacyHashers and moves to the new one', async () => {
      const { apiKey, key } = await store
        .service({ hasher: HMAC, clock: clock.now })
        .create({ name: 'pepper-rotation' });
      const underOld = await storedHash(apiKey.id);
      const newPepper = new HmacSha256ApiKeyHasher({
        secret: 'the-next-pepper-also-32-bytes-or-more',
      });
      expect(await store.service({ hasher: newPepper, clock: clock.now }).isValid(key)).toBe(false);
      const rotating = store.service({
        hasher: newPepper,
        legacyHashers: [HMAC],
        clock: clock.now,
      });
      expect(await rotating.isValid(key)).toBe(true);
      const underNew = await storedHash(apiKey.id);
      expect(underNew).not.toBe(underOld);
      expect(await newPepper.verify(key, underNew)).toBe(true);
      expect(await store.service({ hasher: newPepper, clock: clock.now }).isValid(key)).toBe(true);
    });

    it('refuses a key whose stored hash no configured hasher recognises', async () => {
      const { apiKey, key } = await service.create({ name: 'unrecognised' });
      await store.rawUpdate(apiKey.prefix, {
        hashed_key: await new Sha512ApiKeyHasher().hash(key),
      });
      const fresh = store.service({ clock: clock.now });
      expect(await fresh.verify(key)).toEqual({
        valid: false,
        reason: 'bad_secret',
        prefix: apiKey.prefix,
        keyId: apiKey.id,
      });
      expect(await fresh.isValid(key)).toBe(false);
    });

    it('does not rewrite a hash already in the current format', async () => {
      const { apiKey, key } = await service.create({ name: 'no-rewrite' });
      const before = await storedHash(apiKey.id);
      expect(await store.service({ hasher: FAST_BCRYPT, clock: clock.now }).isValid(key)).toBe(
        true,
      );
      expect(await storedHash(apiKey.id)).toBe(before);
    });
  });

  describe('with an owner the database requires', () => {
    let owned: KeyStore;
    let ownedService: ApiKeyService<OwnedApiKey>;

    beforeAll(async () => {
      owned = await openKeyStore(engine, [OwnedApiKey], { entities: [Owner, OwnedApiKey] });
      await owned.dataSource.getRepository(Owner).insert({ id: 'owner-1' });
      ownedService = owned.service<OwnedApiKey>({}, OwnedApiKey);
    });
    afterAll(async () => {
      await owned?.close();
    });

    it('stores the owner given to create()', async () => {
      const { apiKey, key } = await ownedService.create({
        name: 'owned',
        owner: { id: 'owner-1' } as Owner,
      });
      expect(await ownedService.isValid(key)).toBe(true);
      expect((await owned.rawRow(apiKey.prefix, 'service_spec_owned_keys'))!.owner_id).toBe(
        'owner-1',
      );
    });

    it('reports a row the database refuses (missing or unknown owner) as ApiKeyValidationError, not an outage', async () => {
      const before = await owned.dataSource.getRepository(OwnedApiKey).count();
      await expect(ownedService.create({ name: 'orphan' })).rejects.toBeInstanceOf(
        ApiKeyValidationError,
      );
      await expect(
        ownedService.create({ name: 'stranger', owner: { id: 'nobody' } as Owner }),
      ).rejects.toBeInstanceOf(ApiKeyValidationError);
      expect(await owned.dataSource.getRepository(OwnedApiKey).count()).toBe(before);
    });

    it('names the field of an unknown owner without the driver text, which is its cause', async () => {
      const refused = await ownedService
        .create({ name: 'stranger', owner: { id: 'nobody-at-all' } as Owner })
        .catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(ApiKeyValidationError);
      expect(refused).toMatchObject({
        field: 'owner',
        message: 'The key could not be stored: owner names no existing Owner.',
      });
      // The driver's own words, for the caller's server log.
      expect(String((refused as Error).cause)).toMatch(/foreign key/i);
    });

    it('refuses a NUL in a name before the database sees it, on create and update', async () => {
      const nul = 'bad\u0000name';
      await expect(
        ownedService.create({ name: nul, owner: { id: 'owner-1' } as Owner }),
      ).rejects.toMatchObject({ field: 'name', message: expect.stringMatching(/NUL/) });
      const { apiKey } = await ownedService.create({
        name: 'fine',
        owner: { id: 'owner-1' } as Owner,
      });
      await expect(ownedService.update(apiKey.id, { name: nul })).rejects.toMatchObject({
        field: 'name',
      });
    });
  });

  describe('when the database is gone', () => {
    it('throws ApiKeyStoreUnavailableError from every method instead of answering', async () => {
      const doomed = await openKeyStore(engine);
      const doomedService = doomed.service({ clock: clock.now });
      const { apiKey, key } = await doomedService.create({ name: 'doomed' });
      await doomed.dataSource.destroy();
      try {
        await expect(doomedService.verify(key)).rejects.toBeInstanceOf(ApiKeyStoreUnavailableError);
        await expect(doomedService.isValid(key)).rejects.toBeInstanceOf(
          ApiKeyStoreUnavailableError,
        );
        await expect(doomedService.findByKey(key)).rejects.toBeInstanceOf(
          ApiKeyStoreUnavailableError,
        );
        await expect(doomedService.list()).rejects.toBeInstanceOf(ApiKeyStoreUnavailableError);
        await expect(doomedService.findOne(apiKey.id)).rejects.toBeInstanceOf(
          ApiKeyStoreUnavailableError,
        );
        await expect(doomedService.revoke(apiKey.id)).rejects.toBeInstanceOf(
          ApiKeyStoreUnavailableError,
        );
        const failure = await doomedService
          .create({ name: 'after-outage' })
          .catch((error: unknown) => error);
        expect(failure).toBeInstanceOf(ApiKeyStoreUnavailableError);
        expect(String((failure as Error).message)).not.toMatch(/[A-Za-z0-9]{8}\.[A-Za-z0-9]{32}/);
      } finally {
        await doomed.close();
      }
    });
  });
});
