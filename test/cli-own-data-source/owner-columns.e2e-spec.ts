import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectOneLineFailure } from '../support/cli-result.js';
import { lastLine } from '../support/sample-app.js';
import { LIB_URL, PARTNERS, cliOn, dataSourceDir, writeDataSource } from './data-source-files.js';

/**
 * Keys of an entity with an owner (the sample's `PartnerApiKey`, whose `partner_id` is NOT
 * NULL): made with `--set`, listed and shown with their owner, rotated with it.
 */
describe('key CLI on a key entity with an owner', { timeout: 120_000 }, () => {
  const dir = dataSourceDir();
  const database = join(dir, 'partners.sqlite');
  let file: string;
  const cli = (...args: string[]) => cliOn(file, ...args);
  const keyRows = () =>
    new Database(database, { readonly: true })
      .prepare('SELECT id, partner_id FROM partner_api_keys ORDER BY id')
      .all();

  beforeAll(async () => {
    file = writeDataSource(
      dir,
      'data-source.mjs',
      `import { DataSource } from 'typeorm';
import { ApiKey, CreateApiKeys1764000000000 } from '${LIB_URL}';
import { PartnerApiKey } from '${PARTNERS.entity}';
import { Partner } from '${PARTNERS.partner}';
import { CreatePartnerTables1764100000000 } from '${PARTNERS.migration}';
export default new DataSource({
  type: 'better-sqlite3',
  database: ${JSON.stringify(database)},
  entities: [ApiKey, Partner, PartnerApiKey],
  migrations: [CreateApiKeys1764000000000, CreatePartnerTables1764100000000],
});
export const apiKeyOptions = { name: 'partners', entity: PartnerApiKey };
`,
    );
    const migrated = await cli('list');
    expect(migrated.code, migrated.stderr).toBe(0);
    const db = new Database(database);
    db.prepare(
      "INSERT INTO partners (id, name, active) VALUES ('acme', 'Acme', 1), ('zeta', 'Zeta', 1)",
    ).run();
    db.close();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses a key without its owner, or a column the entity does not have, with one line naming --set', async () => {
    const missing = await cli('create', '--name', 'orphan');
    expectOneLineFailure(missing);
    expect(missing.stderr).toMatch(/could not be stored: .*partner_id/);
    expect(missing.stderr).toContain(
      '--set <column>=<value> (PartnerApiKey has partnerId, partner)',
    );

    const unknown = await cli('create', '--name', 'x', '--set', 'owner=acme');
    expectOneLineFailure(unknown);
    expect(unknown.stderr).toContain(
      'PartnerApiKey has no column "owner" that --set can fill; it can fill partnerId, partner.',
    );
    expectOneLineFailure(await cli('create', '--name', 'x', '--set', 'prefix=AAAAAAAA'));
    expect(keyRows()).toEqual([]);
  });

  it('makes keys owned through --set, by column or by relation id, and lists and shows the owner', async () => {
    const byColumn = await cli('create', '--name', 'acme ci', '--set', 'partnerId=acme', '--json');
    expect(byColumn.code, byColumn.stderr).toBe(0);
    const acme = JSON.parse(lastLine(byColumn.stdout));
    expect(acme).toMatchObject({ partnerId: 'acme', name: 'acme ci' });
    const byRelation = await cli('create', '--name', 'zeta ci', '--set', 'partner=zeta', '--json');
    expect(byRelation.code, byRelation.stderr).toBe(0);
    const zeta = JSON.parse(lastLine(byRelation.stdout));
    expect(keyRows()).toEqual(
      [
        { id: acme.id, partner_id: 'acme' },
        { id: zeta.id, partner_id: 'zeta' },
      ].sort((a, b) => a.id.localeCompare(b.id)),
    );

    const table = await cli('list');
    expect(table.code, table.stderr).toBe(0);
    const [header, ...rows] = table.stdout.trimEnd().split('\n');
    expect(header.split(/\s{2,}/).at(-1)).toBe('PARTNER ID');
    expect(rows.find((row) => row.startsWith(acme.prefix))).toMatch(/\sacme$/);
    const listed = JSON.parse(lastLine((await cli('list', '--json')).stdout));
    expect(
      listed.map((k: { prefix: string; partnerId: string }) => [k.prefix, k.partnerId]),
    ).toEqual(
      expect.arrayContaining([
        [acme.prefix, 'acme'],
        [zeta.prefix, 'zeta'],
      ]),
    );
    expect((await cli('show', zeta.prefix)).stdout).toMatch(/^partnerId:\s+zeta$/m);
    expect(JSON.parse(lastLine((await cli('show', zeta.id, '--json')).stdout))).toMatchObject({
      id: zeta.id,
      partnerId: 'zeta',
    });
  });

  it('rotates a key, keeping its owner and printing the new key once and the old key end', async () => {
    const made = JSON.parse(
      lastLine(
        (await cli('create', '--name', 'rotating', '--set', 'partnerId=acme', '--json')).stdout,
      ),
    );
    const rotated = await cli('rotate', made.prefix, '--grace', '1h', '--json');
    expect(rotated.code, rotated.stderr).toBe(0);
    const result = JSON.parse(lastLine(rotated.stdout));
    expect(result).toMatchObject({ partnerId: 'acme', name: 'rotating' });
    expect(result.key).toMatch(new RegExp(`^${result.prefix}\\.[A-Za-z0-9]{32}$`));
    expect(result.previous).toMatchObject({ id: made.id, partnerId: 'acme', status: 'active' });
    const graceHours =
      (Date.parse(result.previous.expiresAt) - Date.parse(result.createdAt)) / 3_600_000;
    expect(graceHours).toBeCloseTo(1, 2);

    const again = await cli('rotate', result.prefix);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout.match(/[A-Za-z0-9]{8}\.[A-Za-z0-9]{32}/g)).toHaveLength(1);
    expect(again.stdout).toContain('This is the only time the key is shown');
    expect(again.stdout).toContain(`The old key ${result.prefix} is revoked.`);
    expect(again.stdout).not.toContain(result.key);
  });
});
