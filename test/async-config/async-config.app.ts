import { Inject, Injectable, Module, type DynamicModule } from '@nestjs/common';
import type { DataSourceOptions } from 'typeorm';
import {
  ApiKeyModule,
  ApiKeyService,
  type ApiKeyOptions,
  type ApiKeyOptionsFactory,
  type CreatedApiKey,
} from '../../lib/index.js';
import { FAST_BCRYPT } from '../support/key-store.js';
import { keyPrefixController, typeOrmFor } from '../support/scenario-app.js';

const SETTINGS = Symbol('SETTINGS');

/** A stand-in for `@nestjs/config`'s `ConfigService`: settings known only once the app boots. */
@Injectable()
export class AppConfig {
  constructor(@Inject(SETTINGS) private readonly settings: Record<string, string>) {}

  get(name: string): string {
    const value = this.settings[name];
    if (value === undefined) throw new Error(`Setting ${name} is not defined.`);
    return value;
  }
}

/** A stand-in for `ConfigModule.forRoot()`. */
@Module({})
export class AppConfigModule {
  static forRoot(settings: Record<string, string>): DynamicModule {
    return {
      module: AppConfigModule,
      providers: [{ provide: SETTINGS, useValue: settings }, AppConfig],
      exports: [AppConfig],
    };
  }
}

/** For `useClass`: the module instantiates it, injecting `AppConfig`. */
@Injectable()
export class ApiKeyConfigService implements ApiKeyOptionsFactory {
  constructor(private readonly config: AppConfig) {}

  createApiKeyOptions(): ApiKeyOptions {
    return { header: this.config.get('API_KEY_HEADER'), hasher: FAST_BCRYPT };
  }
}

/** For `useExisting`: an instance the app already has, exported by its own module. */
@Injectable()
export class SharedApiKeySettings implements ApiKeyOptionsFactory {
  /** How many times the module asked this instance, to show it was this one that was used. */
  calls = 0;

  constructor(private readonly config: AppConfig) {}

  async createApiKeyOptions(): Promise<ApiKeyOptions> {
    this.calls++;
    return { header: this.config.get('API_KEY_HEADER'), hasher: FAST_BCRYPT };
  }
}

@Module({
  imports: [AppConfigModule.forRoot({ API_KEY_HEADER: 'X-Existing-Key' })],
  providers: [SharedApiKeySettings],
  exports: [SharedApiKeySettings],
})
export class SharedSettingsModule {}

/** The three `forRootAsync` forms of the Nest docs (as `@nestjs/jwt`'s README lists them). */
export type AsyncForm = 'useFactory' | 'useClass' | 'useExisting';

function asyncRegistration(form: AsyncForm): DynamicModule {
  switch (form) {
    case 'useFactory':
      return ApiKeyModule.forRootAsync({
        imports: [AppConfigModule.forRoot({ API_KEY_HEADER: 'X-Factory-Key' })],
        inject: [AppConfig],
        useFactory: async (config: AppConfig) => ({
          header: config.get('API_KEY_HEADER'),
          hasher: FAST_BCRYPT,
        }),
      });
    case 'useClass':
      return ApiKeyModule.forRootAsync({
        imports: [AppConfigModule.forRoot({ API_KEY_HEADER: 'X-Class-Key' })],
        useClass: ApiKeyConfigService,
      });
    case 'useExisting':
      return ApiKeyModule.forRootAsync({
        imports: [SharedSettingsModule],
        useExisting: SharedApiKeySettings,
      });
  }
}

/** An app whose key options come from one `forRootAsync` form. */
@Module({})
export class AsyncConfigAppModule {
  static register(database: DataSourceOptions, form: AsyncForm): DynamicModule {
    return {
      module: AsyncConfigAppModule,
      imports: [typeOrmFor(database), asyncRegistration(form)],
      controllers: [keyPrefixController('whoami')],
    };
  }
}

/** Issues keys for a feature module that does not import `ApiKeyModule`. */
@Injectable()
export class KeyIssuer {
  constructor(private readonly keys: ApiKeyService) {}

  issue(name: string): Promise<CreatedApiKey> {
    return this.keys.create({ name });
  }
}

/** Uses `ApiKeyService` and `ApiKeyGuard` without importing `ApiKeyModule`. */
@Module({
  controllers: [keyPrefixController('feature')],
  providers: [KeyIssuer],
  exports: [KeyIssuer],
})
export class FeatureModule {}

/** `ApiKeyModule` registered once at the root, global or not, beside a feature module that relies on it. */
@Module({})
export class GlobalRegistrationAppModule {
  static register(database: DataSourceOptions, isGlobal: boolean): DynamicModule {
    return {
      module: GlobalRegistrationAppModule,
      imports: [
        typeOrmFor(database),
        ApiKeyModule.forRoot({ isGlobal, hasher: FAST_BCRYPT }),
        FeatureModule,
      ],
    };
  }
}
