import { Controller, Get, Module, type DynamicModule } from '@nestjs/common';
import type { DataSourceOptions } from 'typeorm';
import { ApiKeyModule, type ApiKeyOptions } from '../../lib/index.js';
import { FAST_BCRYPT } from '../support/key-store.js';
import { keyPrefixController, typeOrmFor } from '../support/scenario-app.js';

/** A route without the guard, as a health check would be. */
@Controller('health')
class OpenHealthController {
  @Get()
  health() {
    return { ok: true };
  }
}

/**
 * An app whose database the test makes stop answering. Its data source has none of the
 * driver timeouts an app should set: the key module alone must bound the wait.
 */
@Module({})
export class StallAppModule {
  static register(
    database: DataSourceOptions,
    storeTimeout: number,
    revocationSync?: ApiKeyOptions['revocationSync'],
  ): DynamicModule {
    const options = { hasher: FAST_BCRYPT, storeTimeout, revocationSync };
    return {
      module: StallAppModule,
      imports: [typeOrmFor(database), ApiKeyModule.forRoot(options)],
      controllers: [keyPrefixController('orders'), OpenHealthController],
    };
  }
}
