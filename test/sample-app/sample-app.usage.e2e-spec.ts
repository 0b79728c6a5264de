import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKey } from '../../lib/keys/format.js';
import { call } from '../support/http.js';
import { withOtherSecret, withWrongSecret } from '../support/key-store.js';
import {
  SAMPLE_ENGINES,
  createSampleDatabase,
  lastLine,
  runCli,
  startSampleApp,
  type RunningSampleApp,
  type SampleDatabase,
} from '../support/sample-app.js';

const apiKey = (key: string) => ({ authorization: `Api-Key ${key}` });

/** The value of `api_key_verifications_total` for a registration and outcome in a scrape. */
function verifications(metrics: string, outcome: string, registration = 'default'): number {
  const line = metrics
    .split('\n')
    .find((l) =>
      l.startsWith(
        `api_key_verifications_total{registration="${registration}",outcome="${outcome}"} `,
      ),
    );
  return line === undefined ? NaN : Number(line.split(' ').at(-1));
}

// The contract of the usage report: requests made on two instances, counted in memory, written
// when each stops (SIGTERM), and reported exactly by `npm run keys -- usage <prefix> --json`.
describe.each(SAMPLE_ENGINES)(
  'usage analytics of the sample app on %s',
  { timeout: 120_000 },
  (engine) => {
    let db: SampleDatabase;
    let instances: RunningSampleApp[] = [];
    let reader: { id: string; prefix: string; key: string };
    let metricsBeforeStop: string;

    beforeAll(async () => {
      db = await createSampleDatabase(engine);
      const env = { DATABASE_URL: db.url };
      // The first start runs the migrations alone; the second instance then finds them done.
      instances.push(await startSampleApp(env));
      instances.push(await startSampleApp(env));
      const made = await runCli(
        ['create', '--name', 'reader', '--scopes', 'projects:read', '--json'],
        env,
      );
      expect(made.code, made.stderr).toBe(0);
      reader = JSON.parse(lastLine(made.stdout));
      const [a, b] = instances;
      const statuses: number[] = [];
      const send = async (app: RunningSampleApp, key: string, method = 'GET') =>
        statuses.push(
          (
            await call(`${app.url}/projects`, {
              method,
              headers: apiKey(key),
              ...(method === 'POST' && { body: { name: 'Venus' } }),
            })
          ).status,
        );
      for (let i = 0; i < 3; i++) await send(a, reader.key);
      for (let i = 0; i < 2; i++) await send(a, reader.key, 'POST');
      await send(a, withOtherSecret(reader.key));
      await send(a, withWrongSecret(reader.key)); // a wrong checksum: refused unread
      await send(b, reader.key);
      await send(b, reader.key);
      await send(b, withOtherSecret(reader.key));
      await send(b, generateKey('', 'checksummed').key); // no such key
      expect(statuses).toEqual([200, 200, 200, 403, 403, 401, 401, 200, 200, 401, 401]);
      const scrape = await call(`${a.url}/metrics`);
      expect(scrape.status).toBe(200);
      expect(scrape.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      metricsBeforeStop = scrape.body as string;
      await Promise.all(instances.map((instance) => instance.stop()));
    }, 120_000);

    afterAll(async () => {
      await Promise.all(instances.map((instance) => instance.stop()));
      instances = [];
      await db?.drop();
    });

    it('serves /metrics without a key: the counts of that instance, by outcome', () => {
      expect(verifications(metricsBeforeStop, 'ok')).toBe(3);
      expect(verifications(metricsBeforeStop, 'forbidden')).toBe(2);
      expect(verifications(metricsBeforeStop, 'unauthorized')).toBe(2);
      expect(verifications(metricsBeforeStop, 'rate_limited')).toBe(0);
      expect(metricsBeforeStop).toMatch(/^api_key_cold_path_queued\{registration="default"\} 0$/m);
    });

    it('npm run keys -- usage --json reports what both instances wrote when they stopped', async () => {
      const result = await runCli(
        ['usage', reader.prefix, '--json'],
        { DATABASE_URL: db.url },
        { viaNpm: true },
      );
      expect(result.code, result.stderr).toBe(0);
      const report = JSON.parse(lastLine(result.stdout));
      expect(report.totals).toEqual({
        ok: 5,
        unauthorized: 3,
        forbidden: 2,
        usage_exceeded: 0,
        rate_limited: 0,
        unknown: 0,
      });
      expect(report.days).toHaveLength(30);
      expect(report.days.at(-1)).toMatchObject({
        date: new Date().toISOString().slice(0, 10),
        ok: 5,
        total: 10,
      });
    });

    it('usage prints a table per day with a sparkline', async () => {
      const result = await runCli(['usage', reader.prefix, '--days', '3'], {
        DATABASE_URL: db.url,
      });
      expect(result.code, result.stderr).toBe(0);
      const lines = result.stdout.trimEnd().split('\n');
      expect(lines[0]).toContain(`API key ${reader.prefix} ("reader")`);
      expect(lines[1].split(/\s+/)).toEqual([
        'day',
        'ok',
        'unauthorized',
        'forbidden',
        'usage_exceeded',
        'rate_limited',
        'total',
      ]);
      expect(lines.at(-2)!.split(/\s+/)).toEqual(['total', '5', '3', '2', '0', '0', '10']);
      expect(lines.at(-1)).toBe('··█  (10 requests)');
    });
  },
);
