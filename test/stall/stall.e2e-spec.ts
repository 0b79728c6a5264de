import 'reflect-metadata';
import { setTimeout as sleep } from 'node:timers/promises';
import type { INestApplication } from '@nestjs/common';
import type { DataSourceOptions } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyService, ApiKeyStoreUnavailableError } from '../../lib/index.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { expectUnauthorized, expectUnavailable } from '../support/denials.js';
import { ADAPTERS, call, startApp } from '../support/http.js';
import { untilChannelLost } from '../support/revocation-sync-mode.js';
import { startStallingProxy, type StallingProxy } from '../support/stalling-proxy.js';
import {
  expectRevocationApplies,
  expectServedAgain,
  keysBeforeFailure,
  type KeysAroundFailure,
} from '../support/store-failure.js';
import { StallAppModule } from './stall.app.js';

/** The app's `storeTimeout`: short, so the test is quick. */
const STORE_TIMEOUT = 1_000;
/** Slack for a loaded machine on top of the bound; what is checked is that there is a bound. */
const MARGIN = 2_000;

/**
 * A database that stops answering without refusing anything: the app reaches it through a
 * proxy that, once stalled, holds every byte both ways, on open connections and new ones.
 * Keyed requests must still be answered, with a 503, within the configured bound.
 */
describe.each(['postgres', 'mariadb'] as const)('key store stall on %s', (engine) => {
  describe.each(ADAPTERS)('%s', (_platform, adapter) => {
    let db: TestDatabase;
    let proxy: StallingProxy;
    let app: INestApplication;
    let url: string;
    let keys: KeysAroundFailure;

    /** A request and how long its answer took, in milliseconds. */
    async function timed<R>(request: () => Promise<R>): Promise<{ answer: R; elapsed: number }> {
      const start = performance.now();
      const answer = await request();
      return { answer, elapsed: performance.now() - start };
    }

    beforeAll(async () => {
      db = await createTestDatabase(engine);
      const server = db.options as { host: string; port: number };
      proxy = await startStallingProxy({ host: server.host, port: server.port });
      const throughProxy = { ...db.options, host: proxy.host, port: proxy.port };
      ({ app, url } = await startApp(
        StallAppModule.register(throughProxy as DataSourceOptions, STORE_TIMEOUT),
        adapter,
      ));
      keys = await keysBeforeFailure(app, url);
    });
    afterAll(async () => {
      proxy?.resume();
      await app?.close();
      await proxy?.close();
      await db?.drop();
    });

    it('answers keyed requests with 503 and Retry-After within storeTimeout while the database stalls, and recovers by itself', async () => {
      const { used, unused, unknown, get } = keys;
      proxy.stall();
      try {
        // Notify mode serves the cached row of `used` until its channel misses a ping or a poll.
        await untilChannelLost(app.get(ApiKeyService));
        const first = Promise.all(
          [used.key, used.key, unused.key, unknown].map((key) => timed(() => get(key))),
        );
        // Arrives while the reads above are stalled: it must not wait on them past its own bound.
        // A wait on the clock on purpose: the subject is a request arriving midway through
        // the others' deadline, and only the clock says where midway is.
        await sleep(STORE_TIMEOUT / 2);
        const late = timed(() => get(used.key));
        // Routes without the guard, and requests refused before any lookup, need no database.
        expect((await call(`${url}/health`)).body).toEqual({ ok: true });
        expectUnauthorized(await get());
        const service = timed(() =>
          app
            .get(ApiKeyService)
            .findOne(used.apiKey.id)
            .catch((e) => e),
        );

        for (const { answer, elapsed } of [...(await first), await late]) {
          expectUnavailable(answer);
          // At least half the bound: the 503 came from the deadline, not from a refused connection.
          expect(elapsed).toBeGreaterThanOrEqual(STORE_TIMEOUT / 2);
          expect(elapsed).toBeLessThan(STORE_TIMEOUT + MARGIN);
        }
        const { answer: error, elapsed } = await service;
        expect(error).toBeInstanceOf(ApiKeyStoreUnavailableError);
        expect(elapsed).toBeLessThan(STORE_TIMEOUT + MARGIN);
      } finally {
        proxy.resume();
      }

      await expectServedAgain(keys);
    });

    it('sees changes made after the stall, such as a revocation', async () => {
      await expectRevocationApplies(app, keys);
    });
  });
});
