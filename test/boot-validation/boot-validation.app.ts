import { Module, type DynamicModule } from '@nestjs/common';
import { TypeOrmModule, type TypeOrmModuleOptions } from '@nestjs/typeorm';
import { keyPrefixController } from '../support/scenario-app.js';

/** An in-memory SQLite data source, by default one that finds key entities by itself. */
export const SQLITE: TypeOrmModuleOptions = {
  type: 'better-sqlite3',
  database: ':memory:',
  autoLoadEntities: true,
  synchronize: true,
};

/** An app made of a TypeORM data source and one `ApiKeyModule` registration, to see whether it boots. */
@Module({})
export class BootValidationAppModule {
  static register(
    apiKeyModule: DynamicModule,
    typeorm: TypeOrmModuleOptions = SQLITE,
  ): DynamicModule {
    return {
      module: BootValidationAppModule,
      imports: [TypeOrmModule.forRoot(typeorm), apiKeyModule],
      controllers: [keyPrefixController('ping')],
    };
  }
}
