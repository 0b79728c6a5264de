import 'reflect-metadata';
import {
  Column,
  Entity,
  TableColumn,
  type DataSourceOptions,
  type MigrationInterface,
  type QueryRunner,
} from 'typeorm';
import { DataSource } from 'typeorm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES, createTestDatabase, type TestDatabase } from '../../test/support/databases.js';
import { AbstractApiKey, ApiKey } from '../api-key.entity.js';
import { CreateApiKeys1764000000000, createApiKeyTableMigration } from './migration.js';
import { INSTANT_COLUMNS } from './sql.js';
import { BcryptApiKeyHasher } from '../keys/hasher.js';
import { resolveApiKeyOptions } from '../options/resolve.js';
import { ApiKeyService } from '../api-key.service.js';

@Entity('partner_api_keys')
class PartnerApiKey extends AbstractApiKey {
  @Column({ name: 'partner_code', type: 'varchar', length: 64 })
  partnerCode!: string;
}

const CreatePartnerApiKeys1767225600000 = createApiKeyTableMigration({
  table: 'partner_api_keys',
  name: 'CreatePartnerApiKeys1767225600000',
});

/** The same table with its owner column made in one CREATE TABLE, as the docs recommend. */
const CreatePartnerApiKeysWithOwner1767225600002 = createApiKeyTableMigration({
  table: 'partner_api_keys',
  name: 'CreatePartnerApiKeysWithOwner1767225600002',
  columns: [{ name: 'partner_code', type: 'varchar', length: '64' }],
});

/** The app's own follow-up migration: the owner column of its key type. */
class AddPartnerCode1767225600001 implements MigrationInterface {
  readonly name = 'AddPartnerCode1767225600001';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.addColumn(
      'partner_api_keys',
      new TableColumn({ name: 'partner_code', type: 'varchar', length: '64' }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropColumn('partner_api_keys', 'partner_code');
  }
}

/** What TypeORM's schema diff (synchronize, migration:generate) proposes for the entities. */
async function schemaDiff(dataSource: DataSource): Promise<string[]> {
  const log = await dataSource.driver.createSchemaBuilder().log();
  return log.upQueries.map((query) => query.query);
}

/**
 * The statements of that diff for the instant columns of `table` on PostgreSQL, where the
 * migration makes them `timestamptz` and the portable entity (`type: Date`) says `timestamp`:
 * TypeORM changes a column's type by dropping and adding it again.
 */
function instantColumnDiff(table: string): string[] {
  return INSTANT_COLUMNS.flatMap((column) => [
    `ALTER TABLE "${table}" DROP COLUMN "${column}"`,
    `ALTER TABLE "${table}" ADD "${column}" TIMESTAMP(3)${column === 'created_at' ? ' NOT NULL' : ''}`,
  ]);
}

/**
 * What TypeORM would still change to make the schema match the entities, apart from the instant
 * columns' type on PostgreSQL (pinned down by its own test); empty when they agree.
 */
async function pendingSchemaChanges(dataSource: DataSource): Promise<string[]> {
  const instants = new Set(
    dataSource.options.type === 'postgres'
      ? dataSource.entityMetadatas.flatMap((metadata) => instantColumnDiff(metadata.tableName))
      : [],
  );
  return (await schemaDiff(dataSource)).filter((query) => !instants.has(query));
}

describe.each(ENGINES)('migrations on %s', (engine) => {
  let db: TestDatabase;
  let dataSource: DataSource | undefined;

  /** A data source on the suite's database that never synchronizes: only migrations shape it. */
  async function open(
    entities: Function[],
    migrations: Array<new () => MigrationInterface>,
  ): Promise<DataSource> {
    dataSource = new DataSource({
      ...db.options,
      entities,
      migrations,
      synchronize: false,
      migrationsRun: false,
    } as DataSourceOptions);
    await dataSource.initialize();
    return dataSource;
  }

  beforeAll(async () => {
    db = await createTestDatabase(engine);
  });
  afterEach(async () => {
    if (dataSource?.isInitialized) {
      // Leave the database empty for the next test, whatever this one did.
      await dataSource.undoLastMigration().catch(() => undefined);
      await dataSource.undoLastMigration().catch(() => undefined);
      await dataSource.destroy();
    }
    dataSource = undefined;
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('creates api_keys exactly as the ApiKey entity describes it', async () => {
    const ds = await open([ApiKey], [CreateApiKeys1764000000000]);
    expect(await ds.createQueryRunner().hasTable('api_keys')).toBe(false);
    const ran = await ds.runMigrations();
    expect(ran.map((m) => m.name)).toEqual(['CreateApiKeys1764000000000']);
    expect(await pendingSchemaChanges(ds)).toEqual([]);
  });

  it('makes instants timestamptz on PostgreSQL, which the schema diff of the Date entity would drop and add again', async () => {
    const ds = await open([ApiKey], [CreateApiKeys1764000000000]);
    await ds.runMigrations();
    const types = await ds.query(
      engine === 'postgres'
        ? "SELECT data_type FROM information_schema.columns WHERE table_name = 'api_keys' AND column_name LIKE '%\\_at'"
        : engine === 'mariadb'
          ? "SELECT DATA_TYPE AS data_type FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'api_keys' AND COLUMN_NAME LIKE '%\\_at'"
          : "SELECT type AS data_type FROM pragma_table_info('api_keys') WHERE name LIKE '%_at'",
    );
    expect(types.map((row: { data_type: string }) => row.data_type)).toEqual(
      Array(INSTANT_COLUMNS.length).fill(
        { postgres: 'timestamp with time zone', mariadb: 'datetime', sqlite: 'datetime(3)' }[
          engine
        ],
      ),
    );
    // What migration:generate and synchronize propose (README, Migrations): on PostgreSQL, to
    // drop and add the instant columns again, which fails on any table holding a key.
    expect(await schemaDiff(ds)).toEqual(
      engine === 'postgres' ? instantColumnDiff('api_keys') : [],
    );
  });

  it('gives a table the service works on, with prefix unique', async () => {
    const ds = await open([ApiKey], [CreateApiKeys1764000000000]);
    await ds.runMigrations();
    const service = new ApiKeyService(
      resolveApiKeyOptions(
        { hasher: new BcryptApiKeyHasher({ cost: 4 }) },
        { name: 'default', entity: ApiKey },
      ),
      ds.getRepository(ApiKey),
    );
    const { apiKey, key } = await service.create({
      name: 'migrated',
      scopes: ['a:b'],
      expiresAt: new Date(Date.now() + 60_000),
    });
    expect(await service.isValid(key)).toBe(true);
    expect((await service.findOne(apiKey.prefix))!.scopes).toEqual(['a:b']);
    await expect(
      ds
        .getRepository(ApiKey)
        .insert({ ...apiKey, id: '00000000-0000-4000-8000-000000000000', hashedKey: 'x' }),
    ).rejects.toThrow();
    await ds.getRepository(ApiKey).clear();
  });

  it('makes revocation final even against raw SQL, and leaves other updates alone', async () => {
    const ds = await open([ApiKey], [CreateApiKeys1764000000000]);
    await ds.runMigrations();
    const service = new ApiKeyService(
      resolveApiKeyOptions(
        { hasher: new BcryptApiKeyHasher({ cost: 4 }), usageTracking: false },
        { name: 'default', entity: ApiKey },
      ),
      ds.getRepository(ApiKey),
    );
    const { apiKey } = await service.create({ name: 'final' });
    const table = ds.driver.escape('api_keys');
    const param = engine === 'postgres' ? '$1' : '?';
    // Renaming and reading work on a revoked key; only clearing revoked_at is refused.
    await service.revoke(apiKey.id);
    await ds.query(`UPDATE ${table} SET name = 'renamed' WHERE id = ${param}`, [apiKey.id]);
    await expect(
      ds.query(`UPDATE ${table} SET revoked_at = NULL WHERE id = ${param}`, [apiKey.id]),
    ).rejects.toThrow(/revocation cannot be undone/);
    const [row] = await ds.query(`SELECT name, revoked_at FROM ${table} WHERE id = ${param}`, [
      apiKey.id,
    ]);
    expect(row.name).toBe('renamed');
    expect(row.revoked_at).not.toBeNull();
    await ds.getRepository(ApiKey).clear();
  });

  it('drops the table on down', async () => {
    const ds = await open([ApiKey], [CreateApiKeys1764000000000]);
    await ds.runMigrations();
    expect(await ds.createQueryRunner().hasTable('api_keys')).toBe(true);
    await ds.undoLastMigration();
    expect(await ds.createQueryRunner().hasTable('api_keys')).toBe(false);
  });

  it("creates a custom key table that, with the app's own column migration, matches its entity", async () => {
    const ds = await open(
      [PartnerApiKey],
      [CreatePartnerApiKeys1767225600000, AddPartnerCode1767225600001],
    );
    const ran = await ds.runMigrations();
    expect(ran.map((m) => m.name)).toEqual([
      'CreatePartnerApiKeys1767225600000',
      'AddPartnerCode1767225600001',
    ]);
    expect(await pendingSchemaChanges(ds)).toEqual([]);
    expect(await ds.createQueryRunner().hasTable('api_keys')).toBe(false);
  });

  it('creates a custom key table with its owner column given to the factory, matching its entity and keeping the trigger', async () => {
    const ds = await open([PartnerApiKey], [CreatePartnerApiKeysWithOwner1767225600002]);
    await ds.runMigrations();
    expect(await pendingSchemaChanges(ds)).toEqual([]);
    const service = new ApiKeyService(
      resolveApiKeyOptions(
        { hasher: new BcryptApiKeyHasher({ cost: 4 }), usageTracking: false },
        { name: 'default', entity: PartnerApiKey },
      ),
      ds.getRepository(PartnerApiKey),
    );
    const { apiKey } = await service.create({ name: 'owned', partnerCode: 'acme' });
    await service.revoke(apiKey.id);
    const param = engine === 'postgres' ? '$1' : '?';
    await expect(
      ds.query(
        `UPDATE ${ds.driver.escape('partner_api_keys')} SET revoked_at = NULL WHERE id = ${param}`,
        [apiKey.id],
      ),
    ).rejects.toThrow(/revocation cannot be undone/);
    await ds.getRepository(PartnerApiKey).clear();
  });

  it('is compared for real: a table missing the owner column shows as a pending change', async () => {
    const ds = await open([PartnerApiKey], [CreatePartnerApiKeys1767225600000]);
    await ds.runMigrations();
    const pending = await pendingSchemaChanges(ds);
    expect(pending.length).toBeGreaterThan(0);
    expect(pending.join('\n')).toMatch(/partner_code/);
  });

  it('gives the custom table a prefix index of its own name, so two key tables can live in one schema', async () => {
    const ds = await open(
      [ApiKey, PartnerApiKey],
      [CreateApiKeys1764000000000, CreatePartnerApiKeys1767225600000, AddPartnerCode1767225600001],
    );
    await ds.runMigrations();
    expect(await pendingSchemaChanges(ds)).toEqual([]);
    await ds.undoLastMigration();
    await ds.undoLastMigration();
    await ds.undoLastMigration();
    const runner = ds.createQueryRunner();
    expect(await runner.hasTable('api_keys')).toBe(false);
    expect(await runner.hasTable('partner_api_keys')).toBe(false);
    await runner.release();
  });
});

describe('createApiKeyTableMigration', () => {
  it("names the class after the migration, for TypeORM's migrations table", () => {
    expect(CreateApiKeys1764000000000.name).toBe('CreateApiKeys1764000000000');
    expect(new CreateApiKeys1764000000000().name).toBe('CreateApiKeys1764000000000');
    expect(CreatePartnerApiKeys1767225600000.name).toBe('CreatePartnerApiKeys1767225600000');
  });

  it('refuses a name without a 13-digit timestamp at the end', () => {
    expect(() => createApiKeyTableMigration({ name: 'CreatePartnerApiKeys' })).toThrow(TypeError);
    expect(() => createApiKeyTableMigration({ name: 'CreatePartnerApiKeys176722560000' })).toThrow(
      TypeError,
    );
  });
});
