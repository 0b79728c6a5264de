import { rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectOneLineFailure } from '../support/cli-result.js';
import { call } from '../support/http.js';
import { nextOrNotified } from '../support/revocation-sync-mode.js';
import {
  SAMPLE_ENGINES,
  createSampleDatabase,
  lastLine,
  runCli,
  startSampleApp,
  type CliResult,
  type RunningSampleApp,
  type SampleDatabase,
} from '../support/sample-app.js';

const apiKey = (key: string) => ({ authorization: `Api-Key ${key}` });

/** A port nothing listens on: taken from the OS, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

// Every test starts child processes (about a second each, more on a busy machine): bound them generously.
/** A key as the sample app makes them: checksummed, `v1_<prefix>_<secret><checksum>`. */
const SAMPLE_KEY = /v1_[A-Za-z0-9]{8}_[A-Za-z0-9]{38}/g;

describe.each(SAMPLE_ENGINES)('key CLI on %s', { timeout: 120_000 }, (engine) => {
  let db: SampleDatabase;
  let app: RunningSampleApp;
  let env: Record<string, string>;
  const cli = (...args: string[]) => runCli(args, env);
  /** Everything a command could write, except last-use marks the running app may flush at any time. */
  const storedState = async () => ({
    keys: await db.rows('api_keys', [
      'id',
      'prefix',
      'hashed_key',
      'name',
      'scopes',
      'created_at',
      'expires_at',
      'revoked_at',
    ]),
    partners: await db.rows('partners'),
  });

  beforeAll(async () => {
    db = await createSampleDatabase(engine);
    env = { DATABASE_URL: db.url };
    app = await startSampleApp(env);
  });
  afterAll(async () => {
    await app?.stop();
    await db?.drop();
  });

  it('create --json makes a key that works at once, and revoke stops it on the very next request', async () => {
    const made = await cli(
      'create',
      '--name',
      'ci',
      '--scopes',
      'projects:read,projects:write',
      '--expires',
      '30d',
      '--json',
    );
    expect(made.code, made.stderr).toBe(0);
    expect(made.stderr).toBe('');
    const created = JSON.parse(lastLine(made.stdout));
    expect(Object.keys(created).sort()).toEqual([
      'allowedIps',
      'createdAt',
      'disabledAt',
      'expiresAt',
      'id',
      'key',
      'lastRefillAt',
      'name',
      'prefix',
      'refillAmount',
      'refillInterval',
      'remaining',
      'scopes',
    ]);
    expect(created).toMatchObject({ name: 'ci', scopes: ['projects:read', 'projects:write'] });
    expect(created.key).toMatch(new RegExp(`^v1_${created.prefix}_[A-Za-z0-9]{38}$`));
    const days = (Date.parse(created.expiresAt) - Date.parse(created.createdAt)) / 86_400_000;
    expect(days).toBeCloseTo(30, 2);

    const ok = await call(`${app.url}/projects`, { headers: apiKey(created.key) });
    expect(ok.status).toBe(200);
    expect(ok.body.apiKey).toEqual({ id: created.id, name: 'ci', prefix: created.prefix });
    expect(
      (await call(`${app.url}/projects`, { method: 'POST', headers: apiKey(created.key) })).status,
    ).toBe(201);

    const revoked = await cli('revoke', created.prefix);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toContain(`Revoked API key ${created.prefix}`);
    // Same running app, no restart: the revocation applies to the next request (in notify mode,
    // once the app hears of it).
    const status = async () =>
      (await call(`${app.url}/projects`, { headers: apiKey(created.key) })).status;
    expect(await nextOrNotified(status, 401)).toBe(401);

    const revokedAt = (await db.rows('api_keys', ['id', 'revoked_at'])).find(
      (row) => row.id === created.id,
    )!.revoked_at;
    expect(revokedAt).not.toBeNull();
    const again = await cli('revoke', created.id);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('already revoked');
    expect(
      (await db.rows('api_keys', ['id', 'revoked_at'])).find((row) => row.id === created.id)!
        .revoked_at,
    ).toEqual(revokedAt);
  });

  it('create stores --expires given as an ISO-8601 date-time or a duration, and no --expires as never', async () => {
    const expiry = async (...extra: string[]) => {
      const result = await cli('create', '--name', 'expiring', '--json', ...extra);
      expect(result.code, result.stderr).toBe(0);
      return JSON.parse(lastLine(result.stdout));
    };
    const dated = await expiry('--expires', '2099-01-02T03:04:05+02:00');
    expect(dated.expiresAt).toBe('2099-01-02T01:04:05.000Z');
    expect((await cli('show', dated.prefix, '--json')).stdout).toContain(
      '"expiresAt":"2099-01-02T01:04:05.000Z"',
    );
    const inHours = await expiry('--expires', '12h');
    expect((Date.parse(inHours.expiresAt) - Date.parse(inHours.createdAt)) / 3_600_000).toBeCloseTo(
      12,
      2,
    );
    const never = await expiry();
    expect(never.expiresAt).toBeNull();
    expect(never.scopes).toEqual([]);
  });

  it('create without --json prints the key once, with how clients send it', async () => {
    const made = await cli('create', '--name', 'human', '--scopes', 'projects:read');
    expect(made.code, made.stderr).toBe(0);
    const keys = made.stdout.match(SAMPLE_KEY);
    expect(keys).toHaveLength(1);
    expect(made.stdout).toContain('Authorization: Api-Key <key>');
    expect((await call(`${app.url}/projects`, { headers: apiKey(keys![0]) })).status).toBe(200);

    const withHeader = await runCli(['create', '--name', 'human-header'], {
      ...env,
      API_KEY_HEADER: 'X-Api-Key',
    });
    expect(withHeader.code, withHeader.stderr).toBe(0);
    expect(withHeader.stdout).toMatch(/"x-api-key: <key>"/i);
  });

  it('rotate gives a key that works at once; the old one works through --grace, or stops at once with 0', async () => {
    const old = JSON.parse(lastLine((await cli('create', '--name', 'rotated', '--json')).stdout));
    const rotated = await cli('rotate', old.prefix, '--grace', '1h');
    expect(rotated.code, rotated.stderr).toBe(0);
    const keys = rotated.stdout.match(SAMPLE_KEY);
    expect(keys).toHaveLength(1);
    expect(rotated.stdout).toMatch(
      new RegExp(`^The old key ${old.prefix} keeps working until \\S+Z\\.$`, 'm'),
    );
    const status = async (key: string) =>
      (await call(`${app.url}/projects`, { headers: apiKey(key) })).status;
    expect(await status(keys![0])).toBe(200);
    expect(await status(old.key)).toBe(200);

    const again = JSON.parse(
      lastLine((await cli('rotate', keys![0].slice(3, 11), '--grace', '0', '--json')).stdout),
    );
    expect(again.previous).toMatchObject({ prefix: keys![0].slice(3, 11), status: 'revoked' });
    expect(await status(again.key)).toBe(200);
    expect(await nextOrNotified(() => status(keys![0]), 401)).toBe(401);
  });

  it('list and show print no key and no hash; list hides revoked keys unless --all', async () => {
    const made = await cli('create', '--name', 'secretive', '--scopes', 'projects:read', '--json');
    const created = JSON.parse(lastLine(made.stdout));
    const gone = JSON.parse(lastLine((await cli('create', '--name', 'gone', '--json')).stdout));
    expect((await cli('revoke', gone.prefix)).code).toBe(0);
    const stored = await db.rows('api_keys', ['id', 'hashed_key', 'secret_tag']);
    const hashes = stored.map((row) => row.hashed_key as string);
    const tags = stored.map((row) => row.secret_tag as string);
    expect(hashes.length).toBeGreaterThan(2);
    expect(tags.every((tag) => /^[0-9a-f]{16}$/.test(tag))).toBe(true);

    const outputs: CliResult[] = [];
    for (const args of [
      ['list'],
      ['list', '--all'],
      ['list', '--json'],
      ['list', '--all', '--json'],
      ['show', created.prefix],
      ['show', created.id, '--json'],
      ['show', gone.prefix],
    ]) {
      const result = await cli(...args);
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
      expect(result.stderr).toBe('');
      outputs.push(result);
    }
    for (const { stdout } of outputs) {
      expect(stdout).not.toContain(created.key);
      expect(stdout).not.toContain(created.key.slice(12, 44));
      for (const hash of hashes) expect(stdout).not.toContain(hash);
      for (const tag of tags) expect(stdout).not.toContain(tag);
      expect(stdout).not.toMatch(/hash|secret_?tag/i);
    }

    const [table, tableAll, json, jsonAll, shown, shownJson] = outputs;
    expect(table.stdout.split('\n')[0].split(/\s{2,}/)).toEqual([
      'PREFIX',
      'NAME',
      'SCOPES',
      'CREATED',
      'EXPIRES',
      'REVOKED',
      'LAST USED',
      'DISABLED',
      'ALLOWED IPS',
      'CREDITS',
    ]);
    expect(table.stdout).toContain(created.prefix);
    expect(table.stdout).not.toContain(gone.prefix);
    expect(tableAll.stdout).toContain(gone.prefix);

    const listed = JSON.parse(lastLine(json.stdout)) as Record<string, unknown>[];
    const listedAll = JSON.parse(lastLine(jsonAll.stdout)) as Record<string, unknown>[];
    expect(listed.map((k) => k.prefix)).toContain(created.prefix);
    expect(listed.map((k) => k.prefix)).not.toContain(gone.prefix);
    expect(listed.every((k) => k.status === 'active')).toBe(true);
    expect(listedAll.find((k) => k.prefix === gone.prefix)).toMatchObject({
      status: 'revoked',
      revokedAt: expect.any(String),
    });
    expect(listedAll).toHaveLength(hashes.length);
    const row = listed.find((k) => k.prefix === created.prefix)!;
    expect(Object.keys(row).sort()).toEqual([
      'allowedIps',
      'createdAt',
      'disabledAt',
      'expiresAt',
      'id',
      'lastRefillAt',
      'lastUsedAt',
      'name',
      'prefix',
      'refillAmount',
      'refillInterval',
      'remaining',
      'revokedAt',
      'scopes',
      'status',
    ]);
    expect(row).toMatchObject({
      id: created.id,
      name: 'secretive',
      scopes: ['projects:read'],
      createdAt: created.createdAt,
      expiresAt: null,
    });

    expect(shown.stdout).toMatch(new RegExp(`^id:\\s+${created.id}$`, 'm'));
    expect(shown.stdout).toMatch(/^status:\s+active$/m);
    expect(JSON.parse(lastLine(shownJson.stdout))).toEqual(row);
    expect(outputs[6].stdout).toMatch(/^status:\s+revoked$/m);
  });

  it('records when a key was last used: the app writes it at the latest when it stops', async () => {
    const created = JSON.parse(lastLine((await cli('create', '--name', 'used', '--json')).stdout));
    const other = await startSampleApp(env);
    try {
      expect((await call(`${other.url}/projects`, { headers: apiKey(created.key) })).status).toBe(
        200,
      );
    } finally {
      await other.stop();
    }
    const shown = JSON.parse(lastLine((await cli('show', created.prefix, '--json')).stdout));
    expect(Date.parse(shown.lastUsedAt)).toBeGreaterThanOrEqual(Date.parse(created.createdAt));
  });

  it('npm run keys runs the CLI on the DATABASE_URL database', async () => {
    const listed = await runCli(['list', '--json', '--all'], env, { viaNpm: true });
    expect(listed.code, listed.stderr).toBe(0);
    const keys = JSON.parse(lastLine(listed.stdout)) as { id: string }[];
    expect(keys.map((k) => k.id).sort()).toEqual(
      (await db.rows('api_keys', ['id'])).map((row) => row.id).sort(),
    );
  });

  describe('bad input: one line on stderr, a non-zero exit, no stack trace, nothing written', () => {
    const cases: [string, string[]][] = [
      ['no command', []],
      ['an unknown command', ['rotate-everything']],
      ['an unknown flag', ['list', '--everything']],
      ['a flag of another command', ['create', '--name', 'x', '--all']],
      ['a missing name', ['create', '--scopes', 'projects:read']],
      ['a name flag without its value', ['create', '--name']],
      ['an empty name', ['create', '--name', '']],
      ['a name too long', ['create', '--name', 'n'.repeat(101)]],
      ['a date that is not one', ['create', '--name', 'x', '--expires', 'next tuesday']],
      ['a day the month does not have', ['create', '--name', 'x', '--expires', '2099-02-30']],
      ['a date in the past', ['create', '--name', 'x', '--expires', '2001-01-01']],
      ['a zero duration', ['create', '--name', 'x', '--expires', '0d']],
      ['an invalid scope', ['create', '--name', 'x', '--scopes', 'projects read']],
      ['revoke without a key', ['revoke']],
      ['revoke of an unknown prefix', ['revoke', 'Zz9Zz9Zz']],
      ['revoke of an unknown id', ['revoke', randomUUID()]],
      ['show of an unknown key', ['show', 'Zz9Zz9Zz']],
      ['a negative duration', ['create', '--name', 'x', '--expires', '-5d']],
      ['a column the key entity does not have', ['create', '--name', 'x', '--set', 'owner=1']],
      ['rotate of an unknown key', ['rotate', 'Zz9Zz9Zz', '--grace', '1h']],
      ['a negative grace period', ['rotate', 'Zz9Zz9Zz', '--grace', '-1h']],
      ['a timeout that is not a duration', ['list', '--timeout', 'soon']],
      ['an extra argument', ['show', 'Zz9Zz9Zz', 'extra']],
    ];

    it.each(cases)('%s', async (_title, args) => {
      const before = await storedState();
      expectOneLineFailure(await cli(...args));
      expect(await storedState()).toEqual(before);
    });

    it('no --data-source', async () => {
      const before = await storedState();
      expectOneLineFailure(await runCli(['list'], env, { dataSource: false }));
      expect(await storedState()).toEqual(before);
    });

    it('an unreachable database', async () => {
      const before = await storedState();
      // SQLite: a file under a path that is a regular file; a server: a port nothing listens on.
      const notADirectory = join(tmpdir(), `nestjs-api-key-not-a-dir-${randomUUID()}`);
      writeFileSync(notADirectory, '');
      const user = engine === 'postgres' ? 'postgres' : 'root';
      const url =
        engine === 'sqlite'
          ? `sqlite:${notADirectory}/keys.sqlite`
          : `${engine}://${user}@127.0.0.1:${await closedPort()}/keys`;
      try {
        for (const args of [['list'], ['create', '--name', 'x']]) {
          const result = await runCli(args, { DATABASE_URL: url });
          expectOneLineFailure(result);
          expect(result.stderr).toContain('Cannot connect to the database');
        }
      } finally {
        rmSync(notADirectory, { force: true });
      }
      expect(await storedState()).toEqual(before);
    });

    it('a DATABASE_URL of an unsupported kind', async () => {
      expectOneLineFailure(await runCli(['list'], { DATABASE_URL: 'mongodb://127.0.0.1/keys' }));
    });
  });
});
