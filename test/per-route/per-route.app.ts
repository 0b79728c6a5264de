import { Controller, Get, Module, Post, UseGuards, type DynamicModule } from '@nestjs/common';
import type { DataSourceOptions } from 'typeorm';
import {
  ApiKeyGuard,
  ApiKeyModule,
  CurrentApiKey,
  RequireScopes,
  type ApiKey,
} from '../../lib/index.js';
import { keyPrefixController, typeOrmFor } from '../support/scenario-app.js';

/** Reading needs `projects:read` (class scope); creating needs `projects:write` alone (method scope). */
@Controller('projects')
@UseGuards(ApiKeyGuard)
@RequireScopes('projects:read')
export class ProjectsController {
  @Get()
  list(@CurrentApiKey() apiKey: ApiKey) {
    return { prefix: apiKey.prefix, name: apiKey.name, scopes: apiKey.scopes };
  }

  @Post()
  @RequireScopes('projects:write')
  create(@CurrentApiKey() apiKey: ApiKey) {
    return { createdBy: apiKey.prefix };
  }
}

/** No guard at all: DRF's `/api/public/`. */
@Controller('public')
export class PublicController {
  @Get()
  hello() {
    return { public: true };
  }
}

/** Guards placed per route with `@UseGuards(ApiKeyGuard)`, keys hashed by the default bcrypt hasher. */
@Module({})
export class PerRouteAppModule {
  static register(database: DataSourceOptions, clock: () => Date): DynamicModule {
    return {
      module: PerRouteAppModule,
      imports: [typeOrmFor(database), ApiKeyModule.forRoot({ clock })],
      // `/ping` lets in any usable key, whatever its scopes.
      controllers: [ProjectsController, keyPrefixController('ping'), PublicController],
    };
  }
}
