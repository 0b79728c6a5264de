import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectOneLineFailure } from '../support/cli-result.js';
import {
  SAMPLE_ENGINES,
  createSampleDatabase,
  lastLine,
  runCli,
  type SampleDatabase,
} from '../support/sample-app.js';

// Every test starts child processes (about a second each, more on a busy machine): bound them generously.
describe.each(SAMPLE_ENGINES)('key CLI: dormant keys on %s', { timeout: 120_000 }, (engine) => {
  let db: SampleDatabase;
  let env: Record<string, string>;
  const cli = (...args: string[]) => runCli(args, env);
  const keyRows = () =>
    db.rows('api_keys', ['id', 'prefix', 'name', 'created_at', 'revoked_at', 'last_used_at']);
  const made: Record<string, { id: string; prefix: string; key: string }> = {};

  beforeAll(async () => {
    db = await createSampleDatabase(engine);
    env = { DATABASE_URL: db.url };
    for (const name of ['never used', 'used long ago', 'fresh']) {
      const created = await cli('create', '--name', name, '--json');
      expect(created.code, created.stderr).toBe(0);
      made[name] = JSON.parse(lastLine(created.stdout));
    }
    const old = [made['never used'].id, made['used long ago'].id].map((id) => `'${id}'`);
    await db.execute(
      `UPDATE api_keys SET created_at = '2020-01-01 00:00:00.000' WHERE id IN (${old.join(', ')})`,
    );
    await db.execute(
      `UPDATE api_keys SET last_used_at = '2020-02-01 00:00:00.000' WHERE id = '${made['used long ago'].id}'`,
    );
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('list --unused-for shows the keys unused that long, and no secret', async () => {
    const listed = await cli('list', '--unused-for', '90d', '--json');
    expect(listed.code, listed.stderr).toBe(0);
    const keys = JSON.parse(lastLine(listed.stdout)) as { name: string }[];
    expect(keys.map((k) => k.name).sort()).toEqual(['never used', 'used long ago']);
    const table = await cli('list', '--unused-for', '90d');
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toContain(made['never used'].prefix);
    expect(table.stdout).not.toContain(made.fresh.prefix);
    for (const { key } of Object.values(made)) expect(table.stdout).not.toContain(key);
  });

  it('revoke --unused-for --dry-run prints what would be revoked and changes nothing', async () => {
    const before = await keyRows();
    const dry = await cli('revoke', '--unused-for', '90d', '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/^Would revoke 2 API keys unused for 90d/);
    expect(dry.stdout).toContain(made['never used'].prefix);
    expect(dry.stdout).toContain(made['used long ago'].prefix);
    expect(dry.stdout).not.toContain(made.fresh.prefix);
    expect(dry.stdout).toContain('Dry run: nothing was changed.');
    expect(await keyRows()).toEqual(before);
  });

  it('bad input is one line, and nothing is written', async () => {
    const before = await keyRows();
    for (const args of [
      ['revoke', '--unused-for', '-5d'],
      ['revoke', made.fresh.prefix, '--unused-for', '90d'],
      ['revoke', '--unused-for', 'a while'],
      ['list', '--unused-for', '90d', '--all'],
    ])
      expectOneLineFailure(await cli(...args));
    expect(await keyRows()).toEqual(before);
  });

  it('revoke --unused-for revokes them and prints what it revoked; a second run finds none', async () => {
    const done = await cli('revoke', '--unused-for', '90d');
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toMatch(/^Revoked 2 API keys unused for 90d/);
    expect(done.stdout).not.toContain('Dry run');
    const revoked = Object.fromEntries((await keyRows()).map((r) => [r.name, r.revoked_at]));
    expect(revoked['never used']).not.toBeNull();
    expect(revoked['used long ago']).not.toBeNull();
    expect(revoked.fresh).toBeNull();
    const again = await cli('revoke', '--unused-for', '90d', '--json');
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(lastLine(again.stdout))).toMatchObject({ dryRun: false, keys: [] });
  });
});
