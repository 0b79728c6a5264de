import { Controller, Get, Module, UseGuards, type DynamicModule } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { Column, Entity, PrimaryGeneratedColumn, type DataSourceOptions } from 'typeorm';
import {
  ApiKeyGuard,
  ApiKeyModule,
  BcryptApiKeyHasher,
  CurrentApiKey,
  type ApiKey,
} from '../../lib/index.js';

/** The app's own data, in the default data source. */
@Entity('notes')
export class Note {
  @PrimaryGeneratedColumn()
  id!: number;

  @Column({ type: 'varchar', length: 100 })
  text!: string;
}

@Controller('notes')
@UseGuards(ApiKeyGuard)
export class NotesController {
  @Get()
  list(@CurrentApiKey() apiKey: ApiKey) {
    return { prefix: apiKey.prefix };
  }
}

/** App data in the default data source; keys in a second one named `keys`. */
@Module({})
export class NamedDataSourceAppModule {
  static register(keysDatabase: DataSourceOptions): DynamicModule {
    return {
      module: NamedDataSourceAppModule,
      imports: [
        TypeOrmModule.forRoot({
          type: 'better-sqlite3',
          database: ':memory:',
          entities: [Note],
          synchronize: true,
        }),
        TypeOrmModule.forRoot({
          ...keysDatabase,
          name: 'keys',
          autoLoadEntities: true,
          synchronize: true,
        }),
        ApiKeyModule.forRoot({ dataSource: 'keys', hasher: new BcryptApiKeyHasher({ cost: 4 }) }),
      ],
      controllers: [NotesController],
    };
  }
}
