import { Controller, Get, Module, UseGuards, type DynamicModule } from '@nestjs/common';
import type { DataSourceOptions } from 'typeorm';
import {
  ApiKeyGuard,
  ApiKeyModule,
  CurrentApiKey,
  RequireScopes,
  type ApiKey,
} from '../../lib/index.js';
import { typeOrmFor } from '../support/scenario-app.js';

@Controller()
@UseGuards(ApiKeyGuard)
class SyncedController {
  @Get('who')
  who(@CurrentApiKey() apiKey: ApiKey) {
    return { prefix: apiKey.prefix };
  }

  @Get('write')
  @RequireScopes('write')
  write() {
    return { ok: true };
  }
}

/** One instance of an app in notify mode on `database`; the first one creates the table. */
export function notifyModeApp(database: DataSourceOptions, first: boolean): DynamicModule {
  @Module({
    imports: [
      typeOrmFor(database, { synchronize: first }),
      ApiKeyModule.forRoot({ revocationSync: 'notify' }),
    ],
    controllers: [SyncedController],
  })
  class NotifyModeModule {}
  return { module: NotifyModeModule };
}
