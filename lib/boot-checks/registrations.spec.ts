import 'reflect-metadata';
import { Logger, Module, type DynamicModule } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import { Column, Entity } from 'typeorm';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FAST_BCRYPT } from '../../test/support/key-store.js';
import { API_KEY_MODULE_OPTIONS } from '../api-key.constants.js';
import { AbstractApiKey } from '../api-key.entity.js';
import { ApiKeyConfigurationError } from '../api-key.errors.js';
import { captureRegistrationSite } from './registrations.js';
import { ApiKeyModule } from '../api-key.module.js';
import type { ResolvedApiKeyOptions } from '../api-key.options.js';

@Entity('registrations_spec_partner_keys')
class PartnerApiKey extends AbstractApiKey {
  @Column({ type: 'varchar', length: 36 })
  partnerId!: string;
}

const SPEC = 'lib/boot-checks/registrations.spec.ts';

/** `file:line` of the line calling it, as a registration site names it. */
function here(): string {
  const caller = new Error().stack!.split('\n')[2];
  return `${SPEC}:${/:(\d+):\d+\)?$/.exec(caller)![1]}`;
}

function sqlite(): DynamicModule {
  return TypeOrmModule.forRoot({
    type: 'better-sqlite3',
    database: ':memory:',
    autoLoadEntities: true,
    synchronize: true,
  });
}

describe('the call site of a registration', () => {
  it('is the caller’s file and line, relative to the working directory', () => {
    const site = captureRegistrationSite('partner', 'forRootAsync');
    expect(site).toMatchObject({ name: 'partner', method: 'forRootAsync' });
    expect(site.at).toMatch(new RegExp(`^${SPEC.replace(/\./g, '\\.')}:\\d+$`));
    expect(captureRegistrationSite('partner', 'forRoot').serial).toBeGreaterThan(site.serial);
  });
});

describe('one registration per name and application', () => {
  const open: Array<{ close(): Promise<unknown> }> = [];
  beforeAll(() => {
    Logger.overrideLogger(false);
  });
  afterEach(async () => {
    for (const app of open.splice(0)) await app.close();
  });

  async function boot(...imports: DynamicModule[]) {
    @Module({ imports: [sqlite(), ...imports] })
    class AppModule {}
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
    open.push(moduleRef);
    return moduleRef;
  }

  async function refusal(...imports: DynamicModule[]): Promise<ApiKeyConfigurationError> {
    const error = await boot(...imports).then(
      () => null,
      (caught: unknown) => caught,
    );
    expect(error, 'the app booted').toBeInstanceOf(ApiKeyConfigurationError);
    return error as ApiKeyConfigurationError;
  }

  it('refuses forRoot() and forRoot({ header }) for the default name, naming both calls', async () => {
    // prettier-ignore
    const [first, firstAt] = [ApiKeyModule.forRoot({ hasher: FAST_BCRYPT }), here()];
    // prettier-ignore
    const [second, secondAt] = [ApiKeyModule.forRoot({ header: 'X-Api-Key', hasher: FAST_BCRYPT }), here()];
    const error = await refusal(first, second);
    expect(error.option).toBe('name');
    expect(error.message).toContain(
      `"default" is registered twice, by forRoot() at ${firstAt} and by forRoot() at ${secondAt}`,
    );
    expect(error.message).toContain("use forRoot({ name: 'partner', entity: ... })");
  });

  it('refuses forRoot() beside forRootAsync(), and the same name twice', async () => {
    // prettier-ignore
    const [sync, syncAt] = [ApiKeyModule.forRoot({ hasher: FAST_BCRYPT }), here()];
    // prettier-ignore
    const [async, asyncAt] = [ApiKeyModule.forRootAsync({ useFactory: () => ({ hasher: FAST_BCRYPT }) }), here()];
    expect((await refusal(async, sync)).message).toContain(
      `by forRoot() at ${syncAt} and by forRootAsync() at ${asyncAt}`,
    );

    const partner = () =>
      ApiKeyModule.forRoot({ name: 'partner', entity: PartnerApiKey, hasher: FAST_BCRYPT });
    const twice = await refusal(partner(), partner());
    expect(twice.message).toContain('"partner" is registered twice');
    expect(twice.message).toContain("use forRoot({ name: 'billing', entity: ... })");
  });

  it('refuses the same registration made in two modules of one app', async () => {
    @Module({ imports: [ApiKeyModule.forRoot({ hasher: FAST_BCRYPT, isGlobal: true })] })
    class KeysModule {}
    @Module({ imports: [ApiKeyModule.forRoot({ hasher: FAST_BCRYPT })] })
    class FeatureModule {}
    const error = await refusal({ module: KeysModule }, { module: FeatureModule });
    expect(error.message).toMatch(/"default" is registered twice/);
  });

  it('accepts one registration imported in several places, and one per app in one process', async () => {
    const keys = ApiKeyModule.forRoot({ header: 'X-Api-Key', hasher: FAST_BCRYPT });
    @Module({ imports: [keys] })
    class FeatureModule {}
    const app = await boot(keys, { module: FeatureModule });
    expect(app.get<ResolvedApiKeyOptions>(API_KEY_MODULE_OPTIONS).header).toBe('x-api-key');

    const register = () => ApiKeyModule.forRoot({ hasher: FAST_BCRYPT });
    const [one, two] = await Promise.all([boot(register()), boot(register())]);
    expect(one.get(API_KEY_MODULE_OPTIONS)).not.toBe(two.get(API_KEY_MODULE_OPTIONS));
  });

  it('accepts two names side by side', async () => {
    const app = await boot(
      ApiKeyModule.forRoot({ hasher: FAST_BCRYPT }),
      ApiKeyModule.forRoot({ name: 'partner', entity: PartnerApiKey, hasher: FAST_BCRYPT }),
    );
    expect(app.get<ResolvedApiKeyOptions>(API_KEY_MODULE_OPTIONS).name).toBe('default');
  });
});
