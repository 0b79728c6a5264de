import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import fc from 'fast-check';
import type { DataSourceOptions } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyService, getApiKeyRepositoryToken } from '../../lib/index.js';
import { CustomHeaderAppModule } from '../custom-header/custom-header.app.js';
import { CustomKeywordAppModule } from '../custom-keyword/custom-keyword.app.js';
import { HostileInputAppModule } from '../hostile-input/hostile-input.app.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { expectUnauthorized } from '../support/denials.js';
import { ADAPTERS, startApp } from '../support/http.js';
import { rawRequest, withLenientParser, type RawAnswer } from '../support/raw-http.js';
import { FUZZ_SEED, fuzzRuns } from './arbitraries.js';
import { storeFixedKey } from './fixed-key.js';
import { lineBytes, rawHeaderLinesArb } from './raw-requests.js';

/**
 * The scenario apps of the three ways keys are read: each app's module, its guarded route, and
 * the challenge every 401 there carries.
 */
const SCENARIOS: Array<[string, (database: DataSourceOptions) => unknown, string, string]> = [
  [
    'Authorization: Api-Key',
    (database) => HostileInputAppModule.register(database),
    '/vault',
    'Api-Key realm="api"',
  ],
  [
    'Authorization: Bearer',
    (database) => CustomKeywordAppModule.register(database),
    '/things',
    'Bearer realm="things"',
  ],
  [
    'X-Api-Key',
    (database) => CustomHeaderAppModule.register(database),
    '/reports',
    'Api-Key realm="api", header="x-api-key"',
  ],
];

/**
 * fast-check-generated hostile requests, written byte for byte to a real server: none gets a
 * 2xx or a 5xx. A request that reaches the app is refused with the one generic 401; only a
 * request that Node's HTTP parser refuses before any app code runs may get its 400 (malformed
 * bytes) or 431 (headers too large). SQLite only: the lookup of well-formed near misses is the
 * same on every engine, which the hostile-input scenario covers.
 */
describe.each(ADAPTERS)('fuzzed headers on %s', (_platform, adapter) => {
  describe.each(SCENARIOS)('keys in %s', (_label, register, path, challenge) => {
    let db: TestDatabase;
    let app: INestApplication;
    let url: string;
    let validKey: string;
    /** Requests the HTTP parser accepted and handed to the app, counted by the server. */
    let reachedApp = 0;
    /** The 401 of a request with no key at all, byte for byte. */
    let reference: RawAnswer;

    beforeAll(async () => {
      db = await createTestDatabase('sqlite');
      let base: string;
      ({ app, url: base } = await startApp(register(db.options), adapter));
      url = `${base}${path}`;
      validKey = await storeFixedKey(app.get(ApiKeyService), app.get(getApiKeyRepositoryToken()));
      app.getHttpServer().on('request', () => reachedApp++);
      reference = await rawRequest(url, []);
      expectUnauthorized(reference, challenge);
    });
    afterAll(async () => {
      await app?.close();
      await db?.drop();
    });

    /**
     * Sends `runs` fuzzed requests one at a time and checks each answer by who gave it: a
     * request the server handed to the app must get the generic 401; one that never reached
     * the app was refused by the HTTP parser, with 400 or 431. Returns how many went each way.
     */
    async function fuzzRequests(runs: number) {
      const { keyword } = app.get(ApiKeyService).options;
      const outcomes = { app: 0, 400: 0, 431: 0 };
      await fc.assert(
        fc.asyncProperty(rawHeaderLinesArb(keyword, validKey), async (lines) => {
          const before = reachedApp;
          const answer = await rawRequest(
            url,
            lines.map((line): [string, Buffer] => [line.name, lineBytes(line)]),
          );
          if (reachedApp > before) {
            outcomes.app++;
            expect(reachedApp - before).toBe(1);
            expectUnauthorized(answer, challenge);
            expect(answer.text).toBe(reference.text);
          } else {
            expect([400, 431]).toContain(answer.status);
            outcomes[answer.status as 400 | 431]++;
          }
        }),
        { seed: FUZZ_SEED, numRuns: fuzzRuns(runs) },
      );
      return outcomes;
    }

    async function expectStillServing(): Promise<void> {
      const { header, keyword } = app.get(ApiKeyService).options;
      const ok = await rawRequest(url, [
        header ? [header, validKey] : ['Authorization', `${keyword} ${validKey}`],
      ]);
      expect(ok.status).toBe(200);
    }

    it('answers every request with the generic 401, or the parser with 400 or 431', async () => {
      const outcomes = await fuzzRequests(200);
      // Every path was taken: most requests reached the guard, some were malformed or too large.
      expect(outcomes.app).toBeGreaterThan(outcomes[400] + outcomes[431]);
      expect(outcomes[400]).toBeGreaterThan(0);
      expect(outcomes[431]).toBeGreaterThan(0);
      await expectStillServing();
    }, 120_000);

    it('answers the same way on a lenient server, where control bytes reach the guard', async () => {
      await withLenientParser(app.getHttpServer(), async () => {
        const outcomes = await fuzzRequests(200);
        expect(outcomes.app).toBeGreaterThan(outcomes[400] + outcomes[431]);
        await expectStillServing();
      });
    }, 120_000);
  });
});
