import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  AfterLoad,
  Column,
  DataSource,
  Entity,
  JoinColumn,
  ManyToOne,
  PrimaryColumn,
  Raw,
  RelationId,
  type FindOptionsWhere,
  type Repository,
} from 'typeorm';
import { Logger } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ENGINES } from '../../test/support/databases.js';
import { openKeyStore, type KeyStore } from '../../test/support/key-store.js';
import { getOneByPrefix, insertKey } from '../../test/support/key-rows.js';
import { AbstractApiKey, ApiKey } from '../api-key.entity.js';
import { generateKey } from '../keys/format.js';
import { ApiKeyPrefixLookup, type StoredApiKeyRow } from './lookup.js';

@Entity('lookup_spec_partners')
class Partner {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ type: 'boolean' })
  active!: boolean;
}

@Entity('lookup_spec_partner_keys')
class PartnerApiKey extends AbstractApiKey {
  @ManyToOne(() => Partner, { nullable: false })
  @JoinColumn({ name: 'partner_id' })
  partner!: Partner;

  @Column({ type: 'boolean', default: true })
  enabled!: boolean;

  /** Set by the hook, to show `@AfterLoad()` runs on looked-up rows as it does for `getOne()`. */
  loadedByHook?: boolean;

  @AfterLoad()
  markLoaded(): void {
    this.loadedByHook = true;
  }
}

@Entity('lookup_spec_relation_id_keys')
class RelationIdApiKey extends AbstractApiKey {
  @ManyToOne(() => Partner, { nullable: false })
  @JoinColumn({ name: 'partner_id' })
  partner!: Partner;

  @RelationId((key: RelationIdApiKey) => key.partner)
  partnerId!: string;
}

describe.each(ENGINES)('ApiKeyPrefixLookup on %s', (engine) => {
  let store: KeyStore;
  let keys: Repository<ApiKey>;
  let partnerKeys: Repository<PartnerApiKey>;
  let partners: Repository<Partner>;

  beforeAll(async () => {
    store = await openKeyStore(engine, [ApiKey, PartnerApiKey, RelationIdApiKey], {
      entities: [ApiKey, PartnerApiKey, RelationIdApiKey, Partner],
    });
    keys = store.dataSource.getRepository(ApiKey);
    partnerKeys = store.dataSource.getRepository(PartnerApiKey);
    partners = store.dataSource.getRepository(Partner);
  });
  afterAll(async () => {
    await store?.close();
  });

  it('hydrates the row exactly as getOne() does (entity class, Dates, simple-json scopes, nulls) and hands the hash beside it', async () => {
    const inserted = await insertKey(keys);
    const found = await new ApiKeyPrefixLookup(keys, null).find(inserted.prefix);
    const reference = await getOneByPrefix(keys, inserted.prefix);

    expect(found!.row).toBeInstanceOf(ApiKey);
    expect(found).toEqual(reference);
    expect(found!.row.createdAt).toBeInstanceOf(Date);
    expect(found!.row.createdAt.toISOString()).toBe('2026-01-02T03:04:05.678Z');
    expect(found!.row.expiresAt!.toISOString()).toBe('2027-06-07T08:09:10.111Z');
    expect(found!.row.lastUsedAt!.toISOString()).toBe('2026-03-04T05:06:07.890Z');
    expect(found!.row.revokedAt).toBeNull();
    expect(found!.row.scopes).toEqual(['projects:read', 'projects:write']);
    expect(found!.hashedKey).toBe(inserted.hashedKey);
    // Off the entity, not merely undefined on it: nothing that logs or serialises the entity can carry it.
    expect(Object.keys(found!.row)).not.toContain('hashedKey');
    expect(JSON.stringify(found!.row)).not.toContain(inserted.hashedKey);
    expect(found!.row.revoked).toBe(false);
  });

  it('answers null for a prefix no row has', async () => {
    expect(await new ApiKeyPrefixLookup(keys, null).find(generateKey().prefix)).toBeNull();
  });

  it('reads the row afresh on every call, so a revocation written elsewhere is seen on the next one', async () => {
    const inserted = await insertKey(keys);
    const lookup = new ApiKeyPrefixLookup(keys, null);
    expect((await lookup.find(inserted.prefix))!.row.revoked).toBe(false);
    await store.rawUpdate(inserted.prefix, { revoked_at: new Date('2026-05-05T00:00:00.000Z') });
    const after = await lookup.find(inserted.prefix);
    expect(after!.row.revoked).toBe(true);
    expect(after!.row.revokedAt!.toISOString()).toBe('2026-05-05T00:00:00.000Z');
  });

  it('gives concurrent callers for one prefix their own entities, equal to getOne()', async () => {
    const inserted = await insertKey(keys);
    const lookup = new ApiKeyPrefixLookup(keys, null);
    const found = await Promise.all(Array.from({ length: 20 }, () => lookup.find(inserted.prefix)));
    const reference = await getOneByPrefix(keys, inserted.prefix);
    for (const entity of found) expect(entity).toEqual(reference);
    expect(new Set(found.map((entity) => entity!.row)).size).toBe(found.length);
    expect(new Set(found.map((entity) => entity!.row.createdAt)).size).toBe(found.length);
    expect(new Set(found.map((entity) => entity!.row.scopes)).size).toBe(found.length);
  });

  it('answers prefixes asked for in the same turn, read together, each as getOne() would alone', async () => {
    const first = await insertKey(keys);
    const second = await insertKey(keys, { revokedAt: new Date('2026-02-02T00:00:00.000Z') });
    const swapCase = (prefix: string) =>
      [...prefix].map((c) => (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase())).join('');
    const asked = [
      first.prefix,
      second.prefix,
      generateKey().prefix,
      swapCase(first.prefix),
      first.prefix,
    ];
    const lookup = new ApiKeyPrefixLookup(keys, null);
    const together = await Promise.all(asked.map((prefix) => lookup.find(prefix)));
    for (const [i, prefix] of asked.entries()) {
      // Whatever the engine's collation makes of the case-swapped prefix, the answer is the one a lone query gives.
      expect(together[i]).toEqual(await getOneByPrefix(keys, prefix));
    }
    expect(together[0]!.row.id).toBe(first.id);
    expect(together[1]!.row.revoked).toBe(true);
    expect(together[2]).toBeNull();
    expect(together[0]!.row).not.toBe(together[4]!.row);
  });

  it('honours a usableWhere on a relation and on a boolean column, checked on every call', async () => {
    const partner = await partners.save({ id: randomUUID(), active: true });
    const inserted = await insertKey(partnerKeys, {
      partner,
      enabled: true,
    } as Partial<PartnerApiKey>);
    const usableWhere = {
      partner: { active: true },
      enabled: true,
    } as FindOptionsWhere<PartnerApiKey>;
    const lookup = new ApiKeyPrefixLookup(partnerKeys, usableWhere);

    const found = await lookup.find(inserted.prefix);
    expect(found!.row).toBeInstanceOf(PartnerApiKey);
    expect(found).toEqual(await getOneByPrefix(partnerKeys, inserted.prefix, usableWhere));
    expect(found!.row.enabled).toBe(true);

    await partners.update({ id: partner.id }, { active: false });
    expect(await lookup.find(inserted.prefix)).toBeNull();
    await partners.update({ id: partner.id }, { active: true });
    await partnerKeys.update({ id: inserted.id }, { enabled: false });
    expect(await lookup.find(inserted.prefix)).toBeNull();
  });

  it('runs @AfterLoad() hooks, as getOne() does', async () => {
    const partner = await partners.save({ id: randomUUID(), active: true });
    const inserted = await insertKey(partnerKeys, { partner } as Partial<PartnerApiKey>);
    const found = await new ApiKeyPrefixLookup(partnerKeys, null).find(inserted.prefix);
    expect(found!.row.loadedByHook).toBe(true);
  });

  it('gives every caller of a shared read an entity of its own, hooks run on each, equal to getOne()', async () => {
    const partner = await partners.save({ id: randomUUID(), active: true });
    const inserted = await insertKey(partnerKeys, { partner } as Partial<PartnerApiKey>);
    const lookup = new ApiKeyPrefixLookup(partnerKeys, null);
    const found = await Promise.all(Array.from({ length: 5 }, () => lookup.find(inserted.prefix)));
    const reference = await getOneByPrefix(partnerKeys, inserted.prefix);
    for (const stored of found) {
      expect(stored!.row).toBeInstanceOf(PartnerApiKey);
      expect(stored!.row.loadedByHook).toBe(true);
      expect(stored).toEqual(reference);
      expect(Object.keys(stored!.row)).not.toContain('hashedKey');
    }
    // A caller changing its entity changes no other caller's.
    found[0]!.row.scopes.push('changed');
    found[0]!.row.createdAt.setTime(0);
    expect(found[1]!.row.scopes).toEqual(['projects:read', 'projects:write']);
    expect(found[1]!.row.createdAt.toISOString()).toBe('2026-01-02T03:04:05.678Z');
  });

  it('fills @RelationId properties, as getOne() does (through the query builder, which the compiled form leaves them to)', async () => {
    const repository = store.dataSource.getRepository(RelationIdApiKey);
    const partner = await partners.save({ id: randomUUID(), active: true });
    const inserted = await insertKey(repository, { partner } as Partial<RelationIdApiKey>);
    const found = await new ApiKeyPrefixLookup(repository, null).find(inserted.prefix);
    expect(found!.row.partnerId).toBe(partner.id);
    expect(found).toEqual(await getOneByPrefix(repository, inserted.prefix));
  });

  it('rejects, rather than answering, when the data source is closed', async () => {
    const other = await openKeyStore(engine);
    try {
      const repository = other.dataSource.getRepository(ApiKey);
      const inserted = await insertKey(repository);
      const lookup = new ApiKeyPrefixLookup(repository, null);
      expect(await lookup.find(inserted.prefix)).not.toBeNull();
      await other.dataSource.destroy();
      await expect(lookup.find(inserted.prefix)).rejects.toThrow();
    } finally {
      await other.close();
    }
  });
});

describe('ApiKeyPrefixLookup on a re-initialised better-sqlite3 data source', () => {
  it('prepares its statement again on the new connection', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lookup-spec-'));
    const dataSource = new DataSource({
      type: 'better-sqlite3',
      database: path.join(dir, 'keys.sqlite'),
      entities: [ApiKey],
      synchronize: true,
    });
    try {
      await dataSource.initialize();
      const repository = dataSource.getRepository(ApiKey);
      const inserted = await insertKey(repository);
      const lookup = new ApiKeyPrefixLookup(repository, null);
      expect((await lookup.find(inserted.prefix))!.row.id).toBe(inserted.id);
      await dataSource.destroy();
      await dataSource.initialize();
      expect((await lookup.find(inserted.prefix))!.row.id).toBe(inserted.id);
    } finally {
      if (dataSource.isInitialized) await dataSource.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * On drivers that answer asynchronously, a caller arriving while a read of its prefix is out
 * must not be answered by that read, which may predate a change committed before the caller
 * came. The read is made slow on the server (a sleep inside `usableWhere`, after the
 * statement's snapshot is taken) so that a revocation can be committed while it runs.
 */
describe.each(['postgres', 'mariadb'] as const)(
  'ApiKeyPrefixLookup sharing reads on %s',
  (engine) => {
    let store: KeyStore;
    let keys: Repository<ApiKey>;

    beforeAll(async () => {
      store = await openKeyStore(engine);
      keys = store.dataSource.getRepository(ApiKey);
    });
    afterAll(async () => {
      await store?.close();
    });

    const slowWhere = {
      name: Raw((alias) =>
        engine === 'postgres'
          ? `${alias} IS NOT NULL AND (SELECT true FROM pg_sleep(0.3))`
          : `${alias} IS NOT NULL AND SLEEP(0.3) = 0`,
      ),
    } as FindOptionsWhere<ApiKey>;

    /** Resolves once the server is inside the slow lookup's sleep, so the statement has taken its snapshot. */
    async function slowReadRunning(): Promise<void> {
      const sql =
        engine === 'postgres'
          ? `SELECT count(*) AS n FROM pg_stat_activity WHERE state = 'active' AND wait_event = 'PgSleep' AND query LIKE '%pg_sleep(0.3)%'`
          : `SELECT count(*) AS n FROM information_schema.processlist WHERE state = 'User sleep' AND info LIKE '%SLEEP(0.3)%'`;
      // Polled for a time, not a count: under load the lookup's first statement starts late.
      for (const deadline = Date.now() + 10_000; Date.now() < deadline;) {
        const [{ n }] = await store.dataSource.query(sql);
        if (Number(n) > 0) return;
      }
      throw new Error('the slow lookup never showed up as running on the server');
    }

    it('answers a call that came after a revocation from a read that began after it, not from the read already out', async () => {
      const inserted = await insertKey(keys);
      const lookup = new ApiKeyPrefixLookup(keys, slowWhere);
      const early = lookup.find(inserted.prefix);
      await slowReadRunning();
      await store.rawUpdate(inserted.prefix, { revoked_at: new Date('2026-05-05T00:00:00.000Z') });
      const late = lookup.find(inserted.prefix);

      // The early read's snapshot predates the revocation: that is what makes the late call's answer a test.
      expect((await early)!.row.revoked).toBe(false);
      expect((await late)!.row.revoked).toBe(true);
    });

    it('serves callers that arrived during one read with a single shared read after it', async () => {
      const inserted = await insertKey(keys);
      const lookup = new ApiKeyPrefixLookup(keys, slowWhere);
      const first = lookup.find(inserted.prefix);
      await slowReadRunning();
      const joined = Array.from({ length: 5 }, () => lookup.find(inserted.prefix));
      await first;
      // The five arrived during the first read; one read now answers them all.
      await slowReadRunning();
      const [{ n }] = await store.dataSource.query(
        engine === 'postgres'
          ? `SELECT count(*) AS n FROM pg_stat_activity WHERE state = 'active' AND wait_event = 'PgSleep' AND query LIKE '%pg_sleep(0.3)%'`
          : `SELECT count(*) AS n FROM information_schema.processlist WHERE state = 'User sleep' AND info LIKE '%SLEEP(0.3)%'`,
      );
      expect(Number(n)).toBe(1);
      const found = await Promise.all(joined);
      expect(new Set(found.map((entity) => entity!.row)).size).toBe(5);
      for (const entity of found) expect(entity!.row.id).toBe(inserted.id);
    });
  },
);

describe('ApiKeyPrefixLookup sharing reads on better-sqlite3', () => {
  it('serves callers that came in the same turn or the next with one read, and reads again for a caller after it', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lookup-spec-'));
    const executed: string[] = [];
    const dataSource = new DataSource({
      type: 'better-sqlite3',
      database: path.join(dir, 'keys.sqlite'),
      entities: [ApiKey],
      synchronize: true,
      verbose: (sql: unknown) => executed.push(String(sql)),
    });
    try {
      await dataSource.initialize();
      const repository = dataSource.getRepository(ApiKey);
      const inserted = await insertKey(repository);
      const lookup = new ApiKeyPrefixLookup(repository, null);
      const lookups = () =>
        executed.filter((sql) => sql.startsWith('SELECT') && sql.includes(inserted.prefix)).length;

      const together = await Promise.all(
        Array.from({ length: 5 }, () => lookup.find(inserted.prefix)),
      );
      expect(lookups()).toBe(1);
      expect(new Set(together.map((entity) => entity!.row)).size).toBe(5);
      for (const entity of together) expect(entity!.row.revoked).toBe(false);

      // A caller in the next turn of the event loop joins the read too.
      const nextTurn = await Promise.all([
        lookup.find(inserted.prefix),
        new Promise((resolve) => setImmediate(() => resolve(lookup.find(inserted.prefix)))),
      ]);
      expect(lookups()).toBe(2);
      expect((nextTurn[0] as StoredApiKeyRow<ApiKey>).row).not.toBe(
        (nextTurn[1] as StoredApiKeyRow<ApiKey>).row,
      );

      await repository.update(
        { id: inserted.id },
        { revokedAt: new Date('2026-05-05T00:00:00.000Z') },
      );
      expect((await lookup.find(inserted.prefix))!.row.revoked).toBe(true);
      expect(lookups()).toBe(3);

      // Other keys asked for in the same turn are read by the same statement.
      const others = [await insertKey(repository), await insertKey(repository)];
      const before = executed.length;
      const mixed = await Promise.all([inserted, ...others].map((key) => lookup.find(key.prefix)));
      expect(mixed.map((entity) => entity!.row.id)).toEqual([
        inserted.id,
        ...others.map((key) => key.id),
      ]);
      expect(executed.slice(before).filter((sql) => sql.startsWith('SELECT'))).toHaveLength(1);
    } finally {
      if (dataSource.isInitialized) await dataSource.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * PostgreSQL runs the lookup as a named prepared statement. A pooler in transaction mode can
 * hand the client a server session that does not hold it; that must cost one retried read and
 * a warning, never a failed request.
 */
describe('ApiKeyPrefixLookup prepared statements on PostgreSQL', () => {
  let store: KeyStore;
  let keys: Repository<ApiKey>;

  beforeAll(async () => {
    // One connection, so the statement the test deallocates is the one the lookup prepared.
    store = await openKeyStore('postgres', [ApiKey], { extra: { max: 1 } } as never);
    keys = store.dataSource.getRepository(ApiKey);
  });
  afterAll(async () => {
    await store?.close();
  });

  const prepared = async () =>
    (
      await store.dataSource.query(
        `SELECT name FROM pg_prepared_statements WHERE name LIKE 'nestjs_api_key_%'`,
      )
    ).map((row: { name: string }) => row.name);

  it('prepares the lookup once per connection and reuses it', async () => {
    const lookup = new ApiKeyPrefixLookup(keys, null);
    const [first, second] = [await insertKey(keys), await insertKey(keys)];
    expect((await lookup.find(first.prefix))!.row.id).toBe(first.id);
    expect(await prepared()).toHaveLength(1);
    expect((await lookup.find(second.prefix))!.row.id).toBe(second.id);
    expect(await prepared()).toHaveLength(1);
  });

  it('answers from an unprepared read, warns once and stops preparing when the server lost the statement', async () => {
    const warnings: string[] = [];
    const warn = vi
      .spyOn(Logger.prototype, 'warn')
      .mockImplementation((message: unknown) => void warnings.push(String(message)));
    try {
      const lookup = new ApiKeyPrefixLookup(keys, null);
      const inserted = await insertKey(keys);
      expect((await lookup.find(inserted.prefix))!.row.id).toBe(inserted.id);
      // What a transaction-mode pooler does: the client still believes the statement is prepared.
      await store.dataSource.query('DEALLOCATE ALL');
      expect((await lookup.find(inserted.prefix))!.row.id).toBe(inserted.id);
      expect((await lookup.find(inserted.prefix))!.row.id).toBe(inserted.id);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/max_prepared_statements/);
      expect(warnings[0]).not.toContain(inserted.prefix);
      expect(await prepared()).toEqual([]);
    } finally {
      warn.mockRestore();
    }
  });

  it('passes on errors that are not about prepared statements', async () => {
    const lookup = new ApiKeyPrefixLookup(keys, {
      name: Raw(() => '1/0 = 1'),
    } as FindOptionsWhere<ApiKey>);
    await expect(lookup.find((await insertKey(keys)).prefix)).rejects.toMatchObject({
      code: '22012',
    });
  });
});
