import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../support/http.js';
import {
  createSampleDatabase,
  SAMPLE_ENGINES,
  type SampleDatabase,
  lastLine,
  runCli,
  startSampleApp,
  type CliResult,
  type RunningSampleApp,
} from '../support/sample-app.js';

/** The JSON document a `--json` command printed last, once it succeeded. */
function json(result: CliResult): any {
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(lastLine(result.stdout));
}

// Processes in zones 17 hours apart: the wall-clock reading of an instant differs in each.
const LOS_ANGELES = 'America/Los_Angeles';
const TOKYO = 'Asia/Tokyo';
const NEW_YORK = 'America/New_York';

describe.each(SAMPLE_ENGINES)(
  'key instants across time zones on %s',
  { timeout: 120_000 },
  (engine) => {
    let db: SampleDatabase;
    let app: RunningSampleApp;
    /** The CLI run in a process whose time zone is `zone`. */
    const cli = (zone: string, ...args: string[]) =>
      runCli(args, { DATABASE_URL: db.url, TZ: zone });

    beforeAll(async () => {
      db = await createSampleDatabase(engine);
      // The first command makes the schema; the app then runs in yet another zone.
      app = await startSampleApp({ DATABASE_URL: db.url, TZ: TOKYO });
    });
    afterAll(async () => {
      await app?.stop();
      await db?.drop();
    });

    it('a key made in Los Angeles with --expires 2h works for 2 hours in Tokyo and New York', async () => {
      const made = json(
        await cli(LOS_ANGELES, 'create', '--name', 'la', '--expires', '2h', '--json'),
      );
      const shown = json(await cli(TOKYO, 'show', made.prefix, '--json'));
      expect(shown).toMatchObject({
        createdAt: made.createdAt,
        expiresAt: made.expiresAt,
        status: 'active',
      });
      const listed = json(await cli(NEW_YORK, 'list', '--json'));
      expect(listed.map((key: { prefix: string }) => key.prefix)).toContain(made.prefix);
      const response = await call(`${app.url}/projects`, {
        headers: { authorization: `Api-Key ${made.key}` },
      });
      expect(response.status).toBe(200);
    });

    it('a key made in Tokyo expires at the same instant for a process in Los Angeles', async () => {
      const made = json(await cli(TOKYO, 'create', '--name', 'tokyo', '--expires', '2h', '--json'));
      expect(json(await cli(LOS_ANGELES, 'show', made.prefix, '--json'))).toMatchObject({
        createdAt: made.createdAt,
        expiresAt: made.expiresAt,
      });
    });

    it('a revocation made in New York is dated the same instant in Los Angeles', async () => {
      const made = json(await cli(NEW_YORK, 'create', '--name', 'revoked', '--json'));
      const before = Date.now();
      const revoked = json(await cli(NEW_YORK, 'revoke', made.prefix, '--json'));
      const shown = json(await cli(LOS_ANGELES, 'show', made.prefix, '--json'));
      expect(shown.revokedAt).toBe(revoked.revokedAt);
      expect(Math.abs(Date.parse(shown.revokedAt) - before)).toBeLessThan(60_000);
    });
  },
);

describe.each(['postgres', 'mariadb'] as const)(
  'key CLI started several times at once on an empty %s database',
  { timeout: 120_000 },
  (engine) => {
    let db: SampleDatabase;
    beforeAll(async () => {
      db = await createSampleDatabase(engine);
    });
    afterAll(async () => {
      await db?.drop();
    });

    it('runs the migrations once, and every command succeeds', async () => {
      const runs = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          runCli(['create', '--name', `concurrent ${i}`, '--json'], { DATABASE_URL: db.url }),
        ),
      );
      for (const run of runs) expect(run.code, run.stderr).toBe(0);
      const listed = json(await runCli(['list', '--json'], { DATABASE_URL: db.url }));
      expect(listed).toHaveLength(6);
    });
  },
);
