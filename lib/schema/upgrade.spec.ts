import 'reflect-metadata';
import {
  Column,
  DataSource,
  Entity,
  PrimaryColumn,
  Table,
  TableIndex,
  type DataSourceOptions,
  type MigrationInterface,
  type QueryRunner,
} from 'typeorm';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ENGINES, createTestDatabase, type TestDatabase } from '../../test/support/databases.js';
import { ApiKey } from '../api-key.entity.js';
import { CreateApiKeys1764000000000 } from './migration.js';
import { UpgradeApiKeys1796083200000, createApiKeyUpgradeMigration } from './upgrade.js';
import { INSTANT_COLUMNS } from './sql.js';
import { AddApiKeyPolicies1798848000000 } from '../policies/schema.js';
import { AddApiKeySecretTags1796515200000, createApiKeySecretTagMigration } from './secret-tag.js';
import { checkApiKeySchema } from './check.js';
import { ApiKeyConfigurationError } from '../api-key.errors.js';

/**
 * `CreateApiKeys1764000000000` as the previous version shipped it: instants in the driver's
 * type for `Date` (`timestamp without time zone` on PostgreSQL), and a trigger that only
 * refuses clearing `revoked_at`.
 */
class LegacyCreateApiKeys1764000000000 implements MigrationInterface {
  readonly name = 'CreateApiKeys1764000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const driver = queryRunner.connection.driver;
    const instant = (name: string, isNullable: boolean) => ({
      name,
      type: driver.normalizeType({ type: Date }),
      precision: 3,
      isNullable,
    });
    await queryRunner.createTable(
      new Table({
        name: 'api_keys',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'prefix', type: 'varchar', length: '16' },
          { name: 'hashed_key', type: 'varchar', length: '255' },
          { name: 'name', type: 'varchar', length: '100' },
          { name: 'scopes', type: driver.normalizeType({ type: 'simple-json' }) },
          instant('created_at', false),
          instant('expires_at', true),
          instant('revoked_at', true),
          instant('last_used_at', true),
        ],
      }),
    );
    await queryRunner.createIndex(
      'api_keys',
      new TableIndex({
        name: queryRunner.connection.namingStrategy.indexName('api_keys', ['prefix']),
        columnNames: ['prefix'],
        isUnique: true,
      }),
    );
    const message = 'API key revocation cannot be undone';
    const statements = {
      postgres: [
        `CREATE FUNCTION "api_keys_revocation_is_final"() RETURNS trigger AS $$ BEGIN IF OLD.revoked_at IS NOT NULL AND NEW.revoked_at IS NULL THEN RAISE EXCEPTION '${message}'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql`,
        'CREATE TRIGGER "api_keys_revocation_is_final" BEFORE UPDATE ON "api_keys" FOR EACH ROW EXECUTE FUNCTION "api_keys_revocation_is_final"()',
      ],
      mariadb: [
        `CREATE TRIGGER \`api_keys_revocation_is_final\` BEFORE UPDATE ON \`api_keys\` FOR EACH ROW BEGIN IF OLD.revoked_at IS NOT NULL AND NEW.revoked_at IS NULL THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '${message}'; END IF; END`,
      ],
      'better-sqlite3': [
        `CREATE TRIGGER "api_keys_revocation_is_final" BEFORE UPDATE OF revoked_at ON "api_keys" WHEN OLD.revoked_at IS NOT NULL AND NEW.revoked_at IS NULL BEGIN SELECT RAISE(ABORT, '${message}'); END`,
      ],
    }[driver.options.type as 'postgres' | 'mariadb' | 'better-sqlite3'];
    for (const statement of statements) await queryRunner.query(statement);
  }

  async down(): Promise<void> {}
}

/** The key entity as the previous version had it: without the policy columns. */
@Entity('api_keys')
class LegacyApiKey {
  @PrimaryColumn({ type: 'varchar', length: 36 }) id!: string;
  @Column({ type: 'varchar', length: 16 }) prefix!: string;
  @Column({ name: 'hashed_key', type: 'varchar', length: 255 }) hashedKey!: string;
  @Column({ type: 'varchar', length: 100 }) name!: string;
  @Column({ type: 'simple-json' }) scopes!: string[];
  @Column({ name: 'created_at', type: Date, precision: 3 }) createdAt!: Date;
  @Column({ name: 'expires_at', type: Date, precision: 3, nullable: true })
  expiresAt!: Date | null;
  @Column({ name: 'revoked_at', type: Date, precision: 3, nullable: true })
  revokedAt!: Date | null;
  @Column({ name: 'last_used_at', type: Date, precision: 3, nullable: true })
  lastUsedAt!: Date | null;
}

/** Runs `body` with the process's time zone set to `zone`, as `TZ=zone node ...` would. */
async function inTimeZone<R>(zone: string, body: () => Promise<R>): Promise<R> {
  const before = process.env.TZ;
  process.env.TZ = zone;
  try {
    return await body();
  } finally {
    if (before === undefined) delete process.env.TZ;
    else process.env.TZ = before;
  }
}

/** Keys as the previous version wrote them, each instant at a known UTC time. */
const KEYS = [
  {
    id: '00000000-0000-4000-8000-000000000001',
    prefix: 'Upgrade1',
    createdAt: new Date('2026-01-15T08:30:00.123Z'),
    expiresAt: new Date('2026-07-01T23:45:06.789Z'),
    revokedAt: null,
    lastUsedAt: new Date('2026-03-29T01:30:00.000Z'),
  },
  {
    id: '00000000-0000-4000-8000-000000000002',
    prefix: 'Upgrade2',
    createdAt: new Date('2026-02-01T00:00:00.000Z'),
    expiresAt: null,
    revokedAt: new Date('2026-10-25T00:59:59.999Z'),
    lastUsedAt: null,
  },
];

/** Every key's instants, as ISO strings, read through the entity by this process. */
async function storedInstants(dataSource: DataSource): Promise<unknown[]> {
  const rows = await dataSource.getRepository(ApiKey).find({ order: { id: 'ASC' } });
  return rows.map((row) =>
    [row.createdAt, row.expiresAt, row.revokedAt, row.lastUsedAt].map(
      (instant) => instant?.toISOString() ?? null,
    ),
  );
}

const EXPECTED = KEYS.map((key) =>
  [key.createdAt, key.expiresAt, key.revokedAt, key.lastUsedAt].map(
    (instant) => instant?.toISOString() ?? null,
  ),
);

/** The migrations a data source of the current version lists, in order. */
const CURRENT_MIGRATIONS = [
  CreateApiKeys1764000000000,
  UpgradeApiKeys1796083200000,
  AddApiKeySecretTags1796515200000,
  AddApiKeyPolicies1798848000000,
];

describe.each(ENGINES)('the upgrade migration on %s', (engine) => {
  let db: TestDatabase;
  let dir: string | undefined;
  let dataSource: DataSource | undefined;

  /** A data source on the suite's database with these migrations, connected. */
  async function connect(
    migrations: Array<new () => MigrationInterface>,
    entity: Function = ApiKey,
  ): Promise<DataSource> {
    if (dataSource?.isInitialized) await dataSource.destroy();
    dataSource = new DataSource({
      ...db.options,
      entities: [entity],
      migrations,
      synchronize: false,
    } as DataSourceOptions);
    return dataSource.initialize();
  }

  /** The migrations of the previous version, after which the secret tag's is the one left. */
  const UPGRADED = [CreateApiKeys1764000000000, UpgradeApiKeys1796083200000];

  /** Whether `api_keys` has the tag's column now. */
  async function hasTagColumn(ds: DataSource): Promise<boolean> {
    const queryRunner = ds.createQueryRunner();
    try {
      return await queryRunner.hasColumn('api_keys', 'secret_tag');
    } finally {
      await queryRunner.release();
    }
  }

  /** The revoked key of KEYS made usable again by changing its prefix, in raw SQL. */
  const movePrefix = (ds: DataSource) =>
    ds.query(
      `UPDATE ${ds.driver.escape('api_keys')} SET prefix = 'Upgrade3' WHERE prefix = 'Upgrade2'`,
    );

  beforeEach(async () => {
    // A file for SQLite, which an in-memory database would not outlive its first connection.
    if (engine === 'sqlite') {
      dir = mkdtempSync(join(tmpdir(), 'nestjs-api-key-upgrade-'));
      db = {
        engine,
        options: { type: 'better-sqlite3', database: join(dir, 'keys.sqlite') },
        drop: async () => {},
      };
    } else {
      db = await createTestDatabase(engine);
    }
    // The database as the previous version left it: made by its migration, holding keys that a
    // process in Tokyo wrote.
    const legacy = await connect([LegacyCreateApiKeys1764000000000], LegacyApiKey);
    await legacy.runMigrations();
    await inTimeZone('Asia/Tokyo', () =>
      legacy.getRepository(LegacyApiKey).insert(
        KEYS.map((key) => ({
          ...key,
          hashedKey: `hash of ${key.prefix}`,
          name: 'old',
          scopes: [],
        })),
      ),
    );
    await legacy.destroy();
  });
  afterEach(async () => {
    if (dataSource?.isInitialized) await dataSource.destroy();
    dataSource = undefined;
    await db.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('keeps every instant of a populated table, read in the time zone of the process running it', async () => {
    const ds = await connect(CURRENT_MIGRATIONS);
    const ran = await inTimeZone('Asia/Tokyo', () => ds.runMigrations());
    expect(ran.map((m) => m.name)).toEqual([
      'UpgradeApiKeys1796083200000',
      'AddApiKeySecretTags1796515200000',
      'AddApiKeyPolicies1798848000000',
    ]);
    // Read by processes 17 and 9 hours away from the one that wrote them.
    expect(await inTimeZone('America/Los_Angeles', () => storedInstants(ds))).toEqual(EXPECTED);
    expect(await inTimeZone('UTC', () => storedInstants(ds))).toEqual(EXPECTED);
    if (engine === 'postgres') {
      const types = await ds.query(
        "SELECT DISTINCT data_type FROM information_schema.columns WHERE table_name = 'api_keys' AND column_name LIKE '%\\_at'",
      );
      expect(types).toEqual([{ data_type: 'timestamp with time zone' }]);
    }
  });

  it('reads them in writtenInTimeZone when given, wherever it runs', async () => {
    const UpgradeTokyoKeys1796083200000 = createApiKeyUpgradeMigration({
      name: 'UpgradeTokyoKeys1796083200000',
      writtenInTimeZone: 'Asia/Tokyo',
    });
    const ds = await connect([
      CreateApiKeys1764000000000,
      UpgradeTokyoKeys1796083200000,
      AddApiKeySecretTags1796515200000,
      AddApiKeyPolicies1798848000000,
    ]);
    await inTimeZone('America/New_York', () => ds.runMigrations());
    expect(await inTimeZone('Europe/Paris', () => storedInstants(ds))).toEqual(EXPECTED);
  });

  it('replaces the revocation trigger with one that also refuses moving a prefix', async () => {
    const legacy = await connect([], LegacyApiKey);
    await movePrefix(legacy);
    await legacy.query(
      `UPDATE ${legacy.driver.escape('api_keys')} SET prefix = 'Upgrade2' WHERE prefix = 'Upgrade3'`,
    );
    const ds = await connect(CURRENT_MIGRATIONS);
    await ds.runMigrations();
    await expect(movePrefix(ds)).rejects.toThrow(/prefix cannot be changed/);
    await expect(
      ds.query(`UPDATE ${ds.driver.escape('api_keys')} SET revoked_at = NULL`),
    ).rejects.toThrow(/revocation cannot be undone/);
  });

  it('changes nothing more when run on a table made by the current migration', async () => {
    await db.drop();
    if (engine !== 'sqlite') db = await createTestDatabase(engine);
    else rmSync(join(dir!, 'keys.sqlite'));
    const ds = await connect(CURRENT_MIGRATIONS);
    const ran = await ds.runMigrations();
    expect(ran).toHaveLength(CURRENT_MIGRATIONS.length);
    const diff = await ds.driver.createSchemaBuilder().log();
    // The diff of the Date entity against timestamptz columns on PostgreSQL (a drop and an add
    // per instant column), and nothing else.
    expect(diff.upQueries.length).toBe(engine === 'postgres' ? 2 * INSTANT_COLUMNS.length : 0);
  });

  it('stops the boot without the column, naming the migration; adds it in place, keeping keys and triggers', async () => {
    const before = await connect(UPGRADED);
    await before.runMigrations();
    const check = checkApiKeySchema(before.getRepository(ApiKey));
    await expect(check).rejects.toBeInstanceOf(ApiKeyConfigurationError);
    await expect(check).rejects.toThrow(/no column "secret_tag".*AddApiKeySecretTags1796515200000/);

    // The policies' migration too, which the boot check demands next.
    const ds = await connect([
      ...UPGRADED,
      AddApiKeySecretTags1796515200000,
      AddApiKeyPolicies1798848000000,
    ]);
    expect((await ds.runMigrations()).map((m) => m.name)).toEqual([
      'AddApiKeySecretTags1796515200000',
      'AddApiKeyPolicies1798848000000',
    ]);
    expect(await hasTagColumn(ds)).toBe(true);
    await checkApiKeySchema(ds.getRepository(ApiKey));
    const stored = await ds
      .getRepository(ApiKey)
      .findOne({ where: { prefix: 'Upgrade1' }, select: { id: true, secretTag: true } });
    expect(stored).toMatchObject({ id: KEYS[0].id, secretTag: null });
    // Added in place: SQLite's table was not rebuilt, so the upgrade's trigger is still there.
    await expect(movePrefix(ds)).rejects.toThrow(/prefix cannot be changed/);
  });

  it('leaves a table that has the column alone, and down() drops it', async () => {
    const ds = await connect([...UPGRADED, AddApiKeySecretTags1796515200000]);
    await ds.runMigrations();
    const AddAgain1796515200009 = createApiKeySecretTagMigration({
      name: 'AddAgain1796515200009',
    });
    const queryRunner = ds.createQueryRunner();
    try {
      await new AddAgain1796515200009().up(queryRunner);
      expect(await hasTagColumn(ds)).toBe(true);
      await new AddApiKeySecretTags1796515200000().down(queryRunner);
      expect(await hasTagColumn(ds)).toBe(false);
    } finally {
      await queryRunner.release();
    }
  });
});

describe('createApiKeyUpgradeMigration', () => {
  it("names the class after the migration, for TypeORM's migrations table", () => {
    expect(UpgradeApiKeys1796083200000.name).toBe('UpgradeApiKeys1796083200000');
    expect(new UpgradeApiKeys1796083200000().name).toBe('UpgradeApiKeys1796083200000');
  });

  it('refuses a name without its timestamp, and a time zone it does not know', () => {
    expect(() => createApiKeyUpgradeMigration({ name: 'UpgradeApiKeys' })).toThrow(TypeError);
    expect(() => createApiKeyUpgradeMigration({ writtenInTimeZone: 'Mars/Olympus' })).toThrow(
      /writtenInTimeZone "Mars\/Olympus" is not an IANA time zone/,
    );
  });
});
