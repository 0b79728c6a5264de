import 'reflect-metadata';
import { Logger, Module, type DynamicModule } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { TypeOrmModule, getDataSourceToken } from '@nestjs/typeorm';
import { Column, Entity, type DataSource, type DataSourceOptions, type Repository } from 'typeorm';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { ENGINES, createTestDatabase, type TestDatabase } from '../../test/support/databases.js';
import { FAST_BCRYPT } from '../../test/support/key-store.js';
import { inNotifyProject } from '../../test/support/revocation-sync-mode.js';
import { AbstractApiKey, ApiKey } from '../api-key.entity.js';
import { ApiKeyConfigurationError, ApiKeyStoreUnavailableError } from '../api-key.errors.js';
import { CreateApiKeys1764000000000 } from './migration.js';
import { ApiKeyModule } from '../api-key.module.js';
import { checkApiKeySchema, isMissingTableError } from './check.js';
import { ApiKeyService } from '../api-key.service.js';

@Entity('schema_partner_keys')
class SchemaPartnerKey extends AbstractApiKey {
  @Column({ name: 'partner', type: 'varchar', length: 36, nullable: true })
  partner!: string | null;
}

/** What the library logged, by level, while a test ran (Nest's own lines left out). */
function captureLogs(): Record<'log' | 'warn' | 'error', string[]> {
  const logs = { log: [] as string[], warn: [] as string[], error: [] as string[] };
  for (const level of ['log', 'warn', 'error'] as const) {
    vi.spyOn(Logger.prototype, level).mockImplementation(function (this: Logger, message: unknown) {
      const context = (this as unknown as { context?: string }).context;
      if (context?.startsWith('ApiKey')) logs[level].push(String(message));
    });
  }
  return logs;
}

/**
 * What a boot on a table without notify mode's trigger also logs in the notify project
 * (vitest.config.ts), where the registration defaults to `revocationSync: 'notify'`.
 */
const CHANGE_TRIGGER_LOGS = inNotifyProject()
  ? ['Created the change trigger of table "api_keys" (revocationSync: \'notify\').']
  : [];

describe.each(ENGINES)('the boot-time schema check on %s', (engine) => {
  let db: TestDatabase;
  let moduleRef: TestingModule | undefined;
  let logs: ReturnType<typeof captureLogs>;

  /** Boots the key module on the suite's database, as an app's module would. */
  async function boot(
    typeorm: Partial<DataSourceOptions>,
    apiKeyModule: DynamicModule = ApiKeyModule.forRoot({ hasher: FAST_BCRYPT }),
  ): Promise<TestingModule> {
    @Module({
      imports: [
        TypeOrmModule.forRoot({ ...db.options, autoLoadEntities: true, ...typeorm } as never),
        apiKeyModule,
      ],
    })
    class AppModule {}
    moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
    return moduleRef;
  }

  const bootError = (
    typeorm: Partial<DataSourceOptions>,
    apiKeyModule?: DynamicModule,
  ): Promise<unknown> =>
    boot(typeorm, apiKeyModule).then(
      () => null,
      (error: unknown) => error,
    );

  const dataSource = () => moduleRef!.get<DataSource>(getDataSourceToken());
  const table = (name = 'api_keys') => dataSource().driver.escape(name);

  beforeAll(async () => {
    db = await createTestDatabase(engine);
  });
  beforeEach(() => {
    logs = captureLogs();
  });
  afterEach(async () => {
    if (moduleRef) {
      const ds = dataSource();
      for (const name of ['api_keys', 'schema_partner_keys'])
        await ds.query(`DROP TABLE IF EXISTS ${table(name)}`);
      await ds.query(`DROP TABLE IF EXISTS ${table('migrations')}`);
      await moduleRef.close();
    }
    moduleRef = undefined;
    vi.restoreAllMocks();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('refuses to boot without the key table, naming the migration that creates it', async () => {
    const error = await bootError({ synchronize: false });
    expect(error).toBeInstanceOf(ApiKeyConfigurationError);
    expect((error as Error).message).toMatch(/the table "api_keys" of ApiKey does not exist/);
    expect((error as Error).message).toMatch(/CreateApiKeys1764000000000.*migrationsRun: true/);
    expect((error as Error).message).toMatch(/migration:run/);
    expect((error as Error).message).toMatch(/synchronize: true/);
  });

  it('names createApiKeyTableMigration for a key entity of your own', async () => {
    const error = await bootError(
      { synchronize: false },
      ApiKeyModule.forRoot({ entity: SchemaPartnerKey, hasher: FAST_BCRYPT }),
    );
    expect((error as Error).message).toMatch(
      /createApiKeyTableMigration\(\{ table: 'schema_partner_keys'/,
    );
  });

  it('boots once the migration has run, as the error says, with nothing to say', async () => {
    await boot({ migrations: [CreateApiKeys1764000000000], migrationsRun: true });
    expect(logs).toEqual({ log: CHANGE_TRIGGER_LOGS, warn: [], error: [] });
  });

  it('creates the revocation trigger that synchronize leaves out, once, and says so', async () => {
    await boot({ synchronize: true });
    const service = moduleRef!.get(ApiKeyService);
    const { apiKey } = await service.create({ name: 'synchronized' });
    await service.revoke(apiKey.id);
    const param = engine === 'postgres' ? '$1' : '?';
    await expect(
      dataSource().query(`UPDATE ${table()} SET revoked_at = NULL WHERE id = ${param}`, [
        apiKey.id,
      ]),
    ).rejects.toThrow(/revocation cannot be undone/);
    expect(logs.log).toEqual([
      'Created the revocation trigger of table "api_keys", which synchronize does not create.',
      'Created the trigger keeping revoked keys of table "api_keys" from being enabled.',
      ...CHANGE_TRIGGER_LOGS,
    ]);
    // A second check (another registration, the next boot) finds it and stays quiet.
    await checkApiKeySchema(dataSource().getRepository(ApiKey));
    expect(logs.log).toHaveLength(2 + CHANGE_TRIGGER_LOGS.length);
  });

  it('warns once on PostgreSQL when instants are timestamp without time zone, naming the upgrade', async () => {
    await boot({ synchronize: true });
    if (engine !== 'postgres') {
      expect(logs.warn).toEqual([]);
      return;
    }
    expect(logs.warn).toHaveLength(1);
    expect(logs.warn[0]).toMatch(
      /Table "api_keys" stores created_at, expires_at, revoked_at, last_used_at, disabled_at, last_refill_at, expiry_notified_at as timestamp without time zone/,
    );
    expect(logs.warn[0]).toMatch(/UpgradeApiKeys1796083200000/);
  });

  it('names the fix in the log when the table goes missing after boot, and still answers 503', async () => {
    await boot({ synchronize: true });
    const service = moduleRef!.get(ApiKeyService);
    const { key } = await service.create({ name: 'dropped' });
    await dataSource().query(`DROP TABLE ${table()}`);
    const refused = await service.verify(key).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ApiKeyStoreUnavailableError);
    expect(isMissingTableError((refused as Error).cause)).toBe(true);
    expect(logs.error).toHaveLength(1);
    expect(logs.error[0]).toMatch(
      /The key table does not exist\. Fix: add CreateApiKeys1764000000000/,
    );
    await expect(service.create({ name: 'nowhere' })).rejects.toBeInstanceOf(
      ApiKeyStoreUnavailableError,
    );
  });
});

describe('checkApiKeySchema', () => {
  it('leaves an unreachable database to the requests: no configuration error at boot', async () => {
    const released = vi.fn();
    const repository = {
      manager: {
        connection: {
          isInitialized: true,
          createQueryRunner: () => ({
            hasTable: () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432')),
            release: released,
          }),
        },
      },
      metadata: { tableName: 'api_keys', tablePath: 'api_keys', name: 'ApiKey' },
    } as unknown as Repository<ApiKey>;
    await expect(checkApiKeySchema(repository)).resolves.toBeUndefined();
    expect(released).toHaveBeenCalled();
  });

  it('skips a repository replaced in a test', async () => {
    await expect(checkApiKeySchema({} as Repository<ApiKey>)).resolves.toBeUndefined();
  });
});
