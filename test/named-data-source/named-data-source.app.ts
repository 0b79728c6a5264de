import { Module, type DynamicModule } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { Column, Entity, PrimaryGeneratedColumn, type DataSourceOptions } from 'typeorm';
import { ApiKeyModule } from '../../lib/index.js';
import { FAST_BCRYPT } from '../support/key-store.js';
import { keyPrefixController, typeOrmFor } from '../support/scenario-app.js';

/** The app's own data, in the default data source. */
@Entity('notes')
export class Note {
  @PrimaryGeneratedColumn()
  id!: number;

  @Column({ type: 'varchar', length: 100 })
  text!: string;
}

/**
 * App data in the default data source; keys in a second one named `keys`. Two databases of one
 * engine, so a suite named for PostgreSQL or MariaDB needs no SQLite (nor its native module).
 */
@Module({})
export class NamedDataSourceAppModule {
  static register(keysDatabase: DataSourceOptions, appDatabase: DataSourceOptions): DynamicModule {
    return {
      module: NamedDataSourceAppModule,
      imports: [
        TypeOrmModule.forRoot({ ...appDatabase, entities: [Note], synchronize: true }),
        typeOrmFor(keysDatabase, { name: 'keys' }),
        ApiKeyModule.forRoot({ dataSource: 'keys', hasher: FAST_BCRYPT }),
      ],
      controllers: [keyPrefixController('notes')],
    };
  }
}
