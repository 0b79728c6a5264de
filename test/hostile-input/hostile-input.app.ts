import { Module, type DynamicModule } from '@nestjs/common';
import type { DataSourceOptions } from 'typeorm';
import { ApiKeyModule } from '../../lib/index.js';
import { FAST_BCRYPT } from '../support/key-store.js';
import { keyPrefixController, typeOrmFor } from '../support/scenario-app.js';

/** One guarded route, to throw hostile headers at. */
@Module({})
export class HostileInputAppModule {
  static register(database: DataSourceOptions): DynamicModule {
    return {
      module: HostileInputAppModule,
      imports: [
        typeOrmFor(database),
        // The hasher is not under test here; cost 4 keeps the wrong-secret cases fast.
        ApiKeyModule.forRoot({ hasher: FAST_BCRYPT }),
      ],
      controllers: [keyPrefixController('vault')],
    };
  }
}
