import 'reflect-metadata';
import { setTimeout as sleep } from 'node:timers/promises';
import type { INestApplication } from '@nestjs/common';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyService, type CreatedApiKey } from '../../lib/index.js';
import type { NotifiedRowCache } from '../../lib/change-feed/cache.js';
import { DEFAULT_MAX_STALENESS, DEFAULT_POLL_INTERVAL } from '../../lib/options/resolve.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { expectUnauthorized } from '../support/denials.js';
import { ADAPTERS, call, startApp } from '../support/http.js';
import { eventually, notifiedCache, NOTIFY_BOUND } from '../support/revocation-sync-mode.js';
import { startStallingProxy, type StallingProxy } from '../support/stalling-proxy.js';
import { StallAppModule } from '../stall/stall.app.js';

/** The app's `storeTimeout`: short, so requests that read during the cut give up quickly. */
const STORE_TIMEOUT = 1_000;
/** What the issue allows after the cut: the lease, plus one round trip's interval. */
const SERVED_BOUND = DEFAULT_MAX_STALENESS + DEFAULT_POLL_INTERVAL;
/** How soon after the link heals keys must be let in again, without a restart. */
const HEALED_BOUND = 1_000;
/** Pace of the requests sent during the cut, for each key. */
const REQUEST_EVERY = 20;

/** A request sent during the cut: which key, when it left (`performance.now()`), its status. */
interface Sent {
  key: 'kept' | 'revoked';
  at: number;
  status: number;
}

/**
 * A black-hole partition between a notify-mode instance and its database: a proxy that, once
 * stalled, holds every byte both ways on open connections and accepts new ones without a word,
 * so nothing is refused or reset and the change channel hears nothing, not even that it is
 * cut. With the defaults, the cache must stop serving within its lease, a key revoked in the
 * database meanwhile must never be let in past it, and service must come back by itself.
 */
describe.each(['postgres', 'mariadb'] as const)('black-hole partition on %s', (engine) => {
  describe.each(ADAPTERS)('%s', (_platform, adapter) => {
    let db: TestDatabase;
    let proxy: StallingProxy;
    let admin: DataSource;
    let app: INestApplication;
    let cache: NotifiedRowCache<unknown>;
    let url: string;
    let kept: CreatedApiKey;
    let revoked: CreatedApiKey;

    /** Revokes `key` in the database directly, past the proxy, as another instance would. */
    const revokeInDatabase = (key: CreatedApiKey) =>
      admin.query(
        `UPDATE api_keys SET revoked_at = CURRENT_TIMESTAMP WHERE id = ${engine === 'postgres' ? '$1' : '?'}`,
        [key.apiKey.id],
      );
    /** GETs the guarded route with `key`. */
    const request = (key: CreatedApiKey) =>
      call(`${url}/orders`, { headers: { authorization: `Api-Key ${key.key}` } });
    const get = async (key: CreatedApiKey) => (await request(key)).status;
    /** Whether the row of `key` would be served from memory now. */
    const inMemory = (key: CreatedApiKey) =>
      cache.get(key.apiKey.prefix, cache.ticket()) !== undefined;

    beforeAll(async () => {
      db = await createTestDatabase(engine);
      const server = db.options as { host: string; port: number };
      proxy = await startStallingProxy({ host: server.host, port: server.port });
      admin = await new DataSource(db.options).initialize();
      const throughProxy = { ...db.options, host: proxy.host, port: proxy.port };
      ({ app, url } = await startApp(
        StallAppModule.register(throughProxy as DataSourceOptions, STORE_TIMEOUT, {
          mode: 'notify',
        }),
        adapter,
      ));
      const service = app.get(ApiKeyService);
      cache = notifiedCache(service) as NotifiedRowCache<unknown>;
      kept = await service.create({ name: 'kept through the partition' });
      revoked = await service.create({ name: 'revoked during the partition' });
    });
    afterAll(async () => {
      proxy?.resume();
      await app?.close();
      await proxy?.close();
      await admin?.destroy();
      await db?.drop();
    });

    it('stops serving from memory within its lease, never lets a key revoked meanwhile in later, and comes back by itself', async () => {
      for (const key of [kept, revoked])
        await eventually(
          async () => (await get(key)) === 200 && inMemory(key),
          'the key to be served from memory',
        );

      const cutAt = performance.now();
      proxy.stall();
      await revokeInDatabase(revoked);
      // Ask for both keys until the channel is declared lost (its ping or poll timed out) and
      // the bound has passed: the lease must have ended by then, after which every answer comes
      // from a read, which the black hole holds until storeTimeout. (The poller may declare the
      // channel lost as soon as its lease lapses, so the bound, not the loss, ends the asking.)
      const answers: Array<Promise<Sent>> = [];
      let longestLease = cache.leaseEnd;
      const asking = () =>
        cache.serving || performance.now() - cutAt <= SERVED_BOUND + 2 * REQUEST_EVERY;
      for (const deadline = cutAt + NOTIFY_BOUND; asking(); await sleep(REQUEST_EVERY)) {
        if (performance.now() > deadline) throw new Error('the channel never noticed the cut');
        longestLease = Math.max(longestLease, cache.leaseEnd);
        for (const [name, key] of [
          ['kept', kept],
          ['revoked', revoked],
        ] as const) {
          const at = performance.now();
          answers.push(get(key).then((status) => ({ key: name, at, status })));
        }
      }
      const sent = await Promise.all(answers);

      // No proof can come through a black hole: the last lease began before the cut.
      expect(longestLease).toBeLessThanOrEqual(cutAt + DEFAULT_MAX_STALENESS);
      // A 200 was decided after its request left: none may have left later than the bound.
      const lateFromMemory = sent.filter(
        ({ at, status }) => status === 200 && at - cutAt > SERVED_BOUND,
      );
      expect(lateFromMemory).toEqual([]);
      // The requests went on past the lease, into reads that timed out, and nothing else.
      expect(sent.filter(({ status }) => status === 503).length).toBeGreaterThan(0);
      expect(sent.filter(({ status }) => status !== 200 && status !== 503)).toEqual([]);

      const healedAt = performance.now();
      proxy.resume();
      const afterHealing: number[] = [];
      for (;;) {
        afterHealing.push(await get(revoked));
        if ((await get(kept)) === 200) break;
        if (performance.now() - healedAt > HEALED_BOUND)
          throw new Error(`keys not let in again within ${HEALED_BOUND} ms of healing`);
        await sleep(10);
      }
      expect(afterHealing).not.toContain(200);
      // Once the channel is back and serving from memory, the revocation still holds.
      await eventually(
        async () => (await get(kept)) === 200 && inMemory(kept),
        'the channel to serve from memory again',
      );
      expectUnauthorized(await request(revoked));
    });
  });
});
