import 'reflect-metadata';
import type { DynamicModule } from '@nestjs/common';
import { afterEach, describe, expect, it } from 'vitest';
import { getRepositoryToken } from '@nestjs/typeorm';
import type { Repository } from 'typeorm';
import {
  ApiKeyConfigurationError,
  ApiKeyModule,
  ApiKeyService,
  getApiKeyServiceToken,
} from '../../lib/index.js';
import { Partner, PartnerApiKey } from '../custom-entity/partner.entities.js';
import { expectUnauthorized } from '../support/denials.js';
import { bootError as configurationError } from '../support/boot-error.js';
import { ADAPTERS, call, startApp, type AdapterFactory } from '../support/http.js';
import { FAST_BCRYPT } from '../support/key-store.js';
import {
  BootChecksAppModule,
  PartnerOnlyController,
  ReportsImportingPlainModule,
  ReportsModule,
} from './boot-checks.app.js';

const SPEC = 'test/boot-checks/boot-checks.e2e-spec.ts';

/** `file:line` of the line calling it, as ApiKeyModule names a registration's call site. */
function here(): string {
  const caller = new Error().stack!.split('\n')[2];
  return `${SPEC}:${/:(\d+):\d+\)?$/.exec(caller)![1]}`;
}

/** The error a boot fails with: ours, naming the fix, never Nest's generic DI text. */
async function bootError(
  module: DynamicModule,
  adapter: AdapterFactory,
): Promise<ApiKeyConfigurationError> {
  const error = await configurationError(module, adapter);
  expect(error.message).not.toMatch(/can't resolve dependencies/);
  return error;
}

/**
 * Mistakes of a first hour with ApiKeyModule stop the app at boot with one message that names
 * the fix: a key type registered twice, a guard out of its registration's reach, no data
 * source, a usableWhere naming what the entity lacks.
 */
describe.each(ADAPTERS)('boot checks on %s', (_platform, adapter) => {
  const running: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    for (const app of running.splice(0)) await app.close();
  });

  async function boot(module: DynamicModule) {
    const started = await startApp(module, adapter);
    running.push(started.app);
    return started;
  }

  describe('a key type registered twice', () => {
    it('refuses forRoot() beside forRoot({ header }), naming both calls', async () => {
      // prettier-ignore
      const [first, firstAt] = [ApiKeyModule.forRoot({ hasher: FAST_BCRYPT }), here()];
      // prettier-ignore
      const [second, secondAt] = [ApiKeyModule.forRoot({ header: 'X-Api-Key', hasher: FAST_BCRYPT }), here()];
      const error = await bootError(BootChecksAppModule.register([first, second]), adapter);
      expect(error.message).toBe(
        `ApiKeyModule option "name": "default" is registered twice, by forRoot() at ${firstAt} and by forRoot() at ${secondAt}; only one of them would be used. ` +
          `Fix: register each key type once; use forRoot({ name: 'partner', entity: ... }) for a second key type.`,
      );
    });

    it('refuses forRootAsync() beside forRoot() for one name', async () => {
      const error = await bootError(
        BootChecksAppModule.register([
          ApiKeyModule.forRootAsync({
            name: 'partner',
            entity: PartnerApiKey,
            useFactory: () => ({ hasher: FAST_BCRYPT }),
          }),
          ApiKeyModule.forRoot({ name: 'partner', entity: PartnerApiKey, hasher: FAST_BCRYPT }),
          ApiKeyModule.forRoot({ hasher: FAST_BCRYPT }),
        ]),
        adapter,
      );
      expect(error.message).toMatch(
        /"partner" is registered twice, by forRootAsync\(\) at .+ and by forRoot\(\) at .+;/,
      );
    });
  });

  describe('ApiKeyGuard in a feature module', () => {
    it('refuses it when forRoot() sits in AppModule without isGlobal, naming isGlobal', async () => {
      const error = await bootError(
        BootChecksAppModule.register([
          ApiKeyModule.forRoot({ hasher: FAST_BCRYPT }),
          ReportsModule,
        ]),
        adapter,
      );
      expect(error.option).toBe('isGlobal');
      expect(error.message).toBe(
        'ApiKeyModule option "isGlobal": ApiKeyGuard is used in ReportsModule (by ReportsController), which does not import ApiKeyModule.forRoot(), so it cannot reach the "default" registration. ' +
          'Fix: set isGlobal: true in ApiKeyModule.forRoot(), or import the module that calls it into ReportsModule.',
      );
    });

    it('names plain ApiKeyModule imported in the feature module, and the fix instead of it', async () => {
      const error = await bootError(
        BootChecksAppModule.register([
          ApiKeyModule.forRoot({ hasher: FAST_BCRYPT }),
          ReportsImportingPlainModule,
        ]),
        adapter,
      );
      expect(error.message).toBe(
        'ApiKeyModule option "isGlobal": ApiKeyGuard is used in ReportsImportingPlainModule (by ReportsController), which does not import ApiKeyModule.forRoot(), so it cannot reach the "default" registration. ' +
          'ReportsImportingPlainModule imports ApiKeyModule itself, which registers nothing: keys are registered once, by ApiKeyModule.forRoot(). ' +
          'Fix: set isGlobal: true in ApiKeyModule.forRoot(), or import the module that calls it into ReportsImportingPlainModule instead of ApiKeyModule.',
      );
    });

    it('guards the feature module once the registration is global, as the error says', async () => {
      const { app, url } = await boot(
        BootChecksAppModule.register([
          ApiKeyModule.forRoot({ hasher: FAST_BCRYPT, isGlobal: true }),
          ReportsModule,
        ]),
      );
      const { key } = await app.get(ApiKeyService).create({ name: 'reports' });
      expectUnauthorized(await call(`${url}/reports`));
      const ok = await call(`${url}/reports`, { headers: { authorization: `Api-Key ${key}` } });
      expect(ok).toMatchObject({ status: 200, body: { reports: [] } });
    });
  });

  it('refuses a named guard whose registration is missing, naming the registration', async () => {
    const error = await bootError(
      BootChecksAppModule.register([ApiKeyModule.forRoot({ hasher: FAST_BCRYPT })], {
        controllers: [PartnerOnlyController],
      }),
      adapter,
    );
    expect(error.option).toBe('name');
    expect(error.message).toBe(
      `ApiKeyModule option "name": ApiKeyGuard(partner) is used in BootChecksAppModule (by PartnerOnlyController), but no ApiKeyModule.forRoot({ name: 'partner', ... }) registers "partner". ` +
        `Fix: add ApiKeyModule.forRoot({ name: 'partner', ... }) to AppModule's imports, with isGlobal: true if the guard is used in other modules.`,
    );
  });

  describe('no TypeORM data source', () => {
    it('refuses an app without TypeOrmModule.forRoot(), naming it', async () => {
      const error = await bootError(
        BootChecksAppModule.register([ApiKeyModule.forRoot({ hasher: FAST_BCRYPT })], {
          typeorm: null,
        }),
        adapter,
      );
      expect(error.option).toBe('dataSource');
      expect(error.message).toContain('ApiKeyModule needs a TypeORM data source');
      expect(error.message).toContain(
        'import TypeOrmModule.forRoot({ ..., autoLoadEntities: true })',
      );
    });

    it('refuses a dataSource name the app does not have, naming it', async () => {
      const error = await bootError(
        BootChecksAppModule.register([
          ApiKeyModule.forRoot({ hasher: FAST_BCRYPT }),
          ApiKeyModule.forRoot({ name: 'audit', dataSource: 'keys', hasher: FAST_BCRYPT }),
        ]),
        adapter,
      );
      expect(error.option).toBe('dataSource');
      expect(error.message).toContain('there is no TypeORM data source named "keys"');
      expect(error.message).toContain("TypeOrmModule.forRoot({ name: 'keys', ...");
    });
  });

  describe('usableWhere', () => {
    const partnerKeys = (
      usableWhere: object,
      options?: Parameters<typeof BootChecksAppModule.register>[1],
    ) =>
      BootChecksAppModule.register(
        [
          ApiKeyModule.forRoot({ hasher: FAST_BCRYPT }),
          ApiKeyModule.forRoot({
            name: 'partner',
            entity: PartnerApiKey,
            usableWhere,
            hasher: FAST_BCRYPT,
          }),
        ],
        options,
      );

    it('refuses a relation the entity lacks, naming the path and the entity', async () => {
      const error = await bootError(partnerKeys({ owner: { active: true } }), adapter);
      expect(error.option).toBe('usableWhere');
      expect(error.message).toContain(
        'usableWhere.owner: PartnerApiKey has no relation or column "owner".',
      );
      expect(error.message).toMatch(
        /Fix: name one of PartnerApiKey's columns or relations \(.*partner/,
      );
    });

    it('refuses a column the related entity lacks', async () => {
      const error = await bootError(partnerKeys({ partner: { enabled: true } }), adapter);
      expect(error.message).toContain(
        'usableWhere.partner.enabled: Partner has no relation or column "enabled".',
      );
      expect(error.message).toContain('(id, name, active, apiKeys)');
    });

    it('boots with a usableWhere the entity has, and applies it', async () => {
      const { app, url } = await boot(
        partnerKeys({ partner: { active: true } }, { controllers: [PartnerOnlyController] }),
      );
      const partners = app.get(getRepositoryToken(Partner)) as Repository<Partner>;
      const service = app.get(getApiKeyServiceToken('partner')) as ApiKeyService<PartnerApiKey>;
      const keyOf = async (id: string, active: boolean) => {
        await partners.save({ id, name: id, active });
        return (await service.create({ name: id, partnerId: id })).key;
      };
      const asPartner = async (key: string) =>
        call(`${url}/partner`, { headers: { authorization: `Api-Key ${key}` } });
      expect((await asPartner(await keyOf('active', true))).status).toBe(200);
      expectUnauthorized(await asPartner(await keyOf('inactive', false)));
    });
  });
});
