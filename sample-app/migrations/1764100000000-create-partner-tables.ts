import { Table, TableColumn, TableForeignKey, type MigrationInterface, type QueryRunner } from 'typeorm';
import { createApiKeyTableMigration } from '../../lib/index.js';

/** The partner key table: every column of `AbstractApiKey`, made by the library's migration factory. */
const CreatePartnerApiKeyTable = createApiKeyTableMigration({ table: 'partner_api_keys', name: 'CreatePartnerApiKeyTable1764100000000' });

/**
 * Creates `partners` and `partner_api_keys`, the tables of the sample's second key type. Its
 * key table comes from `createApiKeyTableMigration`; the owner column is added here.
 */
export class CreatePartnerTables1764100000000 implements MigrationInterface {
  readonly name = 'CreatePartnerTables1764100000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const boolean = queryRunner.connection.driver.normalizeType({ type: Boolean });
    await queryRunner.createTable(
      new Table({
        name: 'partners',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'name', type: 'varchar', length: '100' },
          { name: 'active', type: boolean, default: true },
        ],
      }),
    );
    await new CreatePartnerApiKeyTable().up(queryRunner);
    await queryRunner.addColumn('partner_api_keys', new TableColumn({ name: 'partner_id', type: 'varchar', length: '36' }));
    await queryRunner.createForeignKey(
      'partner_api_keys',
      new TableForeignKey({ columnNames: ['partner_id'], referencedTableName: 'partners', referencedColumnNames: ['id'], onDelete: 'CASCADE' }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('partner_api_keys');
    await queryRunner.dropTable('partners');
  }
}
