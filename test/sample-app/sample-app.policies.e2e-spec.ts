import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../support/http.js';
import { nextOrNotified } from '../support/revocation-sync-mode.js';
import {
  SAMPLE_ENGINES,
  createSampleDatabase,
  lastLine,
  runCli,
  startSampleApp,
  type RunningSampleApp,
  type SampleDatabase,
} from '../support/sample-app.js';

/**
 * The key policies through the sample app's contract: keys made and changed with
 * `npm run keys -- …`, enforced by `GET /projects` on the running app (which listens on
 * 127.0.0.1): 401 for a disabled key, 403 from outside its allow-list, 429 once its uses are spent.
 */
describe.each(SAMPLE_ENGINES)(
  'key policies in the sample app on %s',
  { timeout: 120_000 },
  (engine) => {
    let db: SampleDatabase;
    let app: RunningSampleApp | undefined;

    /** Runs the CLI on the sample's database, expecting success; answers its last line. */
    const keys = async (...args: string[]) => {
      const result = await runCli(args, { DATABASE_URL: db.url });
      expect(result.code, result.stderr).toBe(0);
      return lastLine(result.stdout);
    };
    const create = async (...args: string[]) =>
      JSON.parse(await keys('create', '--name', 'policy', ...args, '--json')) as {
        key: string;
        prefix: string;
      };
    const projects = (key: string) =>
      call(`${app!.url}/projects`, { headers: { authorization: `Api-Key ${key}` } });

    beforeAll(async () => {
      db = await createSampleDatabase(engine);
      app = await startSampleApp({ DATABASE_URL: db.url });
    }, 120_000);
    afterAll(async () => {
      await app?.stop();
      await db?.drop();
    });

    it('disable answers 401 from the next request on, enable lets the key in again', async () => {
      const { key, prefix } = await create();
      expect((await projects(key)).status).toBe(200);
      expect(JSON.parse(await keys('disable', prefix, '--json'))).toMatchObject({
        status: 'disabled',
      });
      const status = async () => (await projects(key)).status;
      expect(await nextOrNotified(status, 401)).toBe(401);
      expect(await keys('enable', prefix)).toMatch(/^Enabled API key/);
      expect(await nextOrNotified(status, 200)).toBe(200);
    });

    it('create --allowed-ips: 127.0.0.1/32 gets in, 10.0.0.0/8 gets 403', async () => {
      const local = await create('--allowed-ips', '127.0.0.1/32');
      expect((await projects(local.key)).status).toBe(200);
      const elsewhere = await create('--allowed-ips', '10.0.0.0/8,2001:db8::/32');
      expect((await projects(elsewhere.key)).status).toBe(403);
      const refused = await runCli(['create', '--name', 'bad', '--allowed-ips', '10.0.0.0/33'], {
        DATABASE_URL: db.url,
      });
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/allowedIps .*"10\.0\.0\.0\/33"/);
    });

    it('create --uses 2: two answers of 200, then 429, and list shows what is left', async () => {
      const { key, prefix } = await create('--uses', '2', '--refill', '2/month');
      expect((await projects(key)).status).toBe(200);
      expect((await projects(key)).status).toBe(200);
      const spent = await projects(key);
      expect(spent.status).toBe(429);
      expect(spent.headers.get('ratelimit')).toBe('"api-key-credits";r=0');
      const listed = JSON.parse(await keys('list', '--json')) as Array<Record<string, unknown>>;
      expect(listed.find((k) => k.prefix === prefix)).toMatchObject({
        remaining: 0,
        refillAmount: 2,
        refillInterval: 'month',
      });
    });

    it('list --expiring-in 7d --json lists the usable keys expiring within 7 days only', async () => {
      const soon = await create('--expires', '3d');
      const later = await create('--expires', '30d');
      const listed = JSON.parse(await keys('list', '--expiring-in', '7d', '--json')) as Array<{
        prefix: string;
      }>;
      const prefixes = listed.map((k) => k.prefix);
      expect(prefixes).toContain(soon.prefix);
      expect(prefixes).not.toContain(later.prefix);
    });
  },
);
