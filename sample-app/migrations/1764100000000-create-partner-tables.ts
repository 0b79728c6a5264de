import { Table, type MigrationInterface, type QueryRunner } from 'typeorm';
import { createApiKeyTableMigration } from '../../lib/index.js';

/**
 * The partner key table: every column of `AbstractApiKey` plus its owner, made by the library's
 * migration factory in one CREATE TABLE so SQLite keeps the revocation trigger.
 */
const CreatePartnerApiKeyTable = createApiKeyTableMigration({
  table: 'partner_api_keys',
  name: 'CreatePartnerApiKeyTable1764100000000',
  columns: [{ name: 'partner_id', type: 'varchar', length: '36' }],
  foreignKeys: [
    {
      columnNames: ['partner_id'],
      referencedTableName: 'partners',
      referencedColumnNames: ['id'],
      onDelete: 'CASCADE',
    },
  ],
});

/**
 * Creates `partners` and `partner_api_keys`, the tables of the sample's second key type. Its
 * key table, owner column included, comes from `createApiKeyTableMigration`.
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
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await new CreatePartnerApiKeyTable().down(queryRunner);
    await queryRunner.dropTable('partners');
  }
}
