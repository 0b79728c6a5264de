import { Module, type DynamicModule } from '@nestjs/common';
import type { DataSourceOptions } from 'typeorm';
import { ApiKeyModule } from '../../lib/index.js';
import { FAST_BCRYPT } from '../support/key-store.js';
import { keyPrefixController, typeOrmFor } from '../support/scenario-app.js';

/** An app whose key store the test takes away and gives back while it runs. */
@Module({})
export class OutageAppModule {
  static register(database: DataSourceOptions): DynamicModule {
    return {
      module: OutageAppModule,
      imports: [typeOrmFor(database), ApiKeyModule.forRoot({ hasher: FAST_BCRYPT })],
      controllers: [keyPrefixController('orders')],
    };
  }
}
