import { Controller, Get, Module, UseGuards, type DynamicModule } from '@nestjs/common';
import { TypeOrmModule, type TypeOrmModuleOptions } from '@nestjs/typeorm';
import { ApiKeyGuard, ApiKeyModule, createApiKeyGuard } from '../../lib/index.js';
import { SQLITE } from '../boot-validation/boot-validation.app.js';
import { Partner, PartnerApiKey } from '../custom-entity/partner.entities.js';
import { keyPrefixController } from '../support/scenario-app.js';

/** Reports behind the default key guard, in a module of their own (not the one calling forRoot). */
@Controller('reports')
@UseGuards(ApiKeyGuard)
export class ReportsController {
  @Get()
  list() {
    return { reports: [] };
  }
}

/** A feature module using `ApiKeyGuard` that imports nothing of ApiKeyModule. */
@Module({ controllers: [ReportsController] })
export class ReportsModule {}

/** The same, importing plain `ApiKeyModule`: the usual Nest guess, which registers nothing. */
@Module({ imports: [ApiKeyModule], controllers: [ReportsController] })
export class ReportsImportingPlainModule {}

/** A route behind the guard of a `partner` registration that the app may lack. */
@Controller('partner')
@UseGuards(createApiKeyGuard('partner'))
export class PartnerOnlyController {
  @Get()
  me() {
    return { ok: true };
  }
}

/**
 * An app of `imports` beside a TypeORM data source (none when `typeorm` is `null`), with a
 * route behind the default guard and `controllers` of its own: to see whether it boots.
 */
@Module({})
export class BootChecksAppModule {
  static register(
    imports: NonNullable<DynamicModule['imports']>,
    options: {
      typeorm?: TypeOrmModuleOptions | null;
      controllers?: DynamicModule['controllers'];
    } = {},
  ): DynamicModule {
    const typeorm = options.typeorm === undefined ? SQLITE : options.typeorm;
    return {
      module: BootChecksAppModule,
      imports: [
        // Both sides of the partner relation, whichever registrations the app makes: TypeORM's
        // list of entities to load is shared by every app of the process.
        ...(typeorm
          ? [TypeOrmModule.forRoot(typeorm), TypeOrmModule.forFeature([Partner, PartnerApiKey])]
          : []),
        ...imports,
      ],
      controllers: [keyPrefixController('ping'), ...(options.controllers ?? [])],
    };
  }
}
