import 'reflect-metadata';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ApiKey,
  ApiKeyConfigurationError,
  ApiKeyModule,
  ApiKeyService,
  BcryptApiKeyHasher,
  HmacSha256ApiKeyHasher,
  type ApiKeyOptions,
  type ApiKeyOptionsFactory,
} from '../../lib/index.js';
import { bootError } from '../support/boot-error.js';
import { ADAPTERS, call, startApp } from '../support/http.js';
import { BootValidationAppModule, SQLITE } from './boot-validation.app.js';

const PEPPER = 'a pepper of at least thirty-two bytes, kept out of the database';

/** A configuration that could not work safely stops the app at boot, naming the option and the fix. */
describe.each(ADAPTERS)('boot-time validation on %s', (_platform, adapter) => {
  const running: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    for (const app of running.splice(0)) await app.close();
  });

  it('refuses to boot when the data source does not know the key entity, naming autoLoadEntities', async () => {
    const error = await bootError(
      BootValidationAppModule.register(ApiKeyModule.forRoot(), {
        ...SQLITE,
        autoLoadEntities: false,
        entities: [],
      }),
      adapter,
    );
    expect(error.option).toBe('entity');
    expect(error.message).toMatch(/ApiKey is not an entity of the TypeORM data source "default"/);
    expect(error.message).toMatch(/autoLoadEntities: true/);
  });

  it('boots once the entity is listed, as the error says', async () => {
    const { app, url } = await startApp(
      BootValidationAppModule.register(ApiKeyModule.forRoot(), {
        ...SQLITE,
        autoLoadEntities: false,
        entities: [ApiKey],
      }),
      adapter,
    );
    running.push(app);
    const issued = await app.get(ApiKeyService).create({ name: 'listed' });
    expect(
      (await call(`${url}/ping`, { headers: { authorization: `Api-Key ${issued.key}` } })).body,
    ).toEqual({ prefix: issued.apiKey.prefix });
  });

  it('refuses a misspelt option rather than ignoring it', async () => {
    const error = await bootError(
      BootValidationAppModule.register(ApiKeyModule.forRoot({ headers: 'x' } as ApiKeyOptions)),
      adapter,
    );
    expect(error.option).toBe('headers');
    expect(error.message).toContain('"headers": is not an ApiKeyModule option.');
    expect(error.message).toContain('Fix: did you mean header?');
  });

  it('refuses rowCacheTtl, which could let a key pass without a fresh answer, naming its replacement', async () => {
    const error = await bootError(
      BootValidationAppModule.register(
        ApiKeyModule.forRootAsync({ useFactory: () => ({ rowCacheTtl: 30_000 }) as ApiKeyOptions }),
      ),
      adapter,
    );
    expect(error).toBeInstanceOf(ApiKeyConfigurationError);
    expect(error.option).toBe('rowCacheTtl');
    expect(error.message).toContain("Fix: set revocationSync: 'notify'");
  });

  it('refuses the same misspelling returned by an async factory', async () => {
    const registration = ApiKeyModule.forRootAsync({
      useFactory: async () => ({ headers: 'x' }) as ApiKeyOptions,
    });
    const error = await bootError(BootValidationAppModule.register(registration), adapter);
    expect(error.option).toBe('headers');
  });

  it('refuses registration fields returned by an async factory, which come too late to apply', async () => {
    const registration = ApiKeyModule.forRootAsync({
      useFactory: () => ({ dataSource: 'keys' }) as ApiKeyOptions,
    });
    const error = await bootError(BootValidationAppModule.register(registration), adapter);
    expect(error.option).toBe('dataSource');
    expect(error.message).toContain('forRootAsync({ dataSource, useFactory })');
  });

  it('refuses a brand longer than 32 characters', async () => {
    const error = await bootError(
      BootValidationAppModule.register(ApiKeyModule.forRoot({ brand: 'b'.repeat(40) })),
      adapter,
    );
    expect(error.option).toBe('brand');
    expect(error.message).toContain('at most 32');
  });

  it('refuses a brand that would push keys past bcrypt’s 72 bytes, and accepts it with HMAC', async () => {
    const brand = 'sk_live_'.padEnd(32, 'x');
    const error = await bootError(
      BootValidationAppModule.register(
        ApiKeyModule.forRoot({ brand, hasher: new BcryptApiKeyHasher({ cost: 4 }) }),
      ),
      adapter,
    );
    expect(error.option).toBe('brand');
    expect(error.message).toContain('makes keys 73 bytes long, but bcrypt only reads the first 72');
    expect(error.message).toContain('HmacSha256ApiKeyHasher');

    const { app, url } = await startApp(
      BootValidationAppModule.register(
        ApiKeyModule.forRoot({ brand, hasher: new HmacSha256ApiKeyHasher({ secret: PEPPER }) }),
      ),
      adapter,
    );
    running.push(app);
    const issued = await app.get(ApiKeyService).create({ name: 'branded' });
    expect(issued.key.startsWith(brand)).toBe(true);
    expect(
      (await call(`${url}/ping`, { headers: { authorization: `Api-Key ${issued.key}` } })).status,
    ).toBe(200);
  });

  it('refuses header and keyword values that cannot work', async () => {
    const cases: Array<[ApiKeyOptions, string]> = [
      [{ header: 'Authorization' }, 'header'],
      [{ header: 'X Api Key' }, 'header'],
      [{ keyword: 'Api Key' }, 'keyword'],
      [{ realm: 'say "hi"' }, 'realm'],
    ];
    for (const [options, option] of cases) {
      const error = await bootError(
        BootValidationAppModule.register(ApiKeyModule.forRoot(options)),
        adapter,
      );
      expect(error.option, JSON.stringify(options)).toBe(option);
    }
  });

  it('refuses a malformed forRootAsync() at once, before the app is assembled', () => {
    class Options implements ApiKeyOptionsFactory {
      createApiKeyOptions() {
        return {};
      }
    }
    expect(() => ApiKeyModule.forRootAsync({ useFactory: () => ({}), useClass: Options })).toThrow(
      ApiKeyConfigurationError,
    );
    expect(() => ApiKeyModule.forRootAsync({})).toThrow(
      /exactly one of useFactory, useClass or useExisting/,
    );
    expect(() =>
      ApiKeyModule.forRootAsync({ useFactory: () => ({}), header: 'x' } as never),
    ).toThrow(/"header": is not a forRootAsync\(\) field/);
    expect(() => ApiKeyModule.forRoot({ entity: class NotAnEntity {} as never })).toThrow(
      /does not extend AbstractApiKey/,
    );
  });
});
