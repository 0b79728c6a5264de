import { Controller, Get, Module, UseGuards, type DynamicModule } from '@nestjs/common';
import type { DataSourceOptions } from 'typeorm';
import { ApiKeyGuard, ApiKeyModule, RequireScopes } from '../../lib/index.js';
import { keyPrefixController, typeOrmFor } from '../support/scenario-app.js';

/** A route for keys holding `write`, so a scope change shows in the status. */
@Controller('write')
@UseGuards(ApiKeyGuard)
class WriteController {
  @Get()
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
    controllers: [keyPrefixController('who'), WriteController],
  })
  class NotifyModeModule {}
  return { module: NotifyModeModule };
}
