import { Module, type DynamicModule } from '@nestjs/common';
import type { DataSourceOptions } from 'typeorm';
import { ApiKeyModule } from '../../lib/index.js';
import { FAST_BCRYPT } from '../support/key-store.js';
import { keyPrefixController, typeOrmFor } from '../support/scenario-app.js';

/** Keys sent as bearer tokens, `Authorization: Bearer <key>`, for clients that speak nothing else. */
@Module({})
export class CustomKeywordAppModule {
  static register(database: DataSourceOptions): DynamicModule {
    return {
      module: CustomKeywordAppModule,
      imports: [
        typeOrmFor(database),
        ApiKeyModule.forRoot({ keyword: 'Bearer', realm: 'things', hasher: FAST_BCRYPT }),
      ],
      controllers: [keyPrefixController('things')],
    };
  }
}
