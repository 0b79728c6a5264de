import { setTimeout as sleep } from 'node:timers/promises';
import type { ApiKeyOptions, ApiKeyService } from '../../lib/index.js';
import { NotifiedRowCache } from '../../lib/change-feed/cache.js';
import type { ApiKeyRowCache } from '../../lib/change-feed/cache.js';
import { findRawCondition } from '../../lib/change-feed/owners.js';

/**
 * The variable the `notify` project of vitest.config.ts sets in its workers: every
 * registration that allows it then defaults to `revocationSync: 'notify'`
 * (test/support/notify-mode.setup.ts), and the helpers below wait for notifications.
 */
export const TEST_REVOCATION_SYNC = 'NESTJS_API_KEY_TEST_REVOCATION_SYNC';

/** Whether this test file runs in the `notify` project. */
export function inNotifyProject(): boolean {
  return process.env[TEST_REVOCATION_SYNC] === 'notify';
}

/**
 * `options` with `revocationSync: 'notify'` when the registration chose no `revocationSync`
 * and no `Raw(...)` in `usableWhere` (which notify mode refuses); anything
 * else, invalid options included, as given, so that every refusal stays the same.
 */
export function withNotifyDefault<T>(options: T): T {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) return options;
  const given = options as ApiKeyOptions;
  if (given.revocationSync !== undefined) return options;
  if (findRawCondition(given.usableWhere, 'usableWhere') !== null) return options;
  return { ...options, revocationSync: 'notify' };
}

/** How long a change may take to be heard in the notify project: generous, the machine is shared. */
export const NOTIFY_BOUND = 5_000;

/**
 * Checks `done()` until it holds or `bound` milliseconds have passed; whether it held. The one
 * poll loop of the suites: `eventually`, `nextOrNotified` and the revocation-sync helpers use it.
 */
export async function pollUntil(
  done: () => boolean | Promise<boolean>,
  bound: number = NOTIFY_BOUND,
): Promise<boolean> {
  const deadline = Date.now() + bound;
  while (!(await done())) {
    if (Date.now() > deadline) return false;
    // The pause between two checks: what ends the wait is `done()`, never this.
    await sleep(10);
  }
  return true;
}

/**
 * Waits until `done()` holds, checking every 10 ms, for at most `NOTIFY_BOUND`; throws `what`
 * otherwise. For the notify project, where another process's change arrives by notification
 * (PostgreSQL) or the next poll of the change counter (MariaDB, SQLite), not on the next request.
 */
export async function eventually(done: () => boolean | Promise<boolean>, what: string) {
  if (!(await pollUntil(done))) throw new Error(`${what}: not within ${NOTIFY_BOUND} ms`);
}

/**
 * What `attempt` answers on the next request after another process changed a key: in the
 * default project the very next answer (every request reads the row), in the notify project the
 * first answer equal to `expected` within `NOTIFY_BOUND`, or the last one.
 */
export async function nextOrNotified<T>(attempt: () => Promise<T>, expected: T): Promise<T> {
  let answer = await attempt();
  if (!inNotifyProject()) return answer;
  // The first check looks at the answer above; each later one asks again.
  let asked = true;
  await pollUntil(async () => {
    if (!asked) answer = await attempt();
    asked = false;
    return answer === expected;
  });
  return answer;
}

/**
 * In the notify project, waits until `service`'s row cache serves nothing, every request reading:
 * when its change channel noticed the database is gone, or, if the channel cannot tell (a
 * stall), when its lease ran out, at most `maxStaleness` after the last round trip that came
 * back. Until then a cached row may pass, as designed. At once in the default project, which
 * caches nothing.
 */
export async function untilChannelLost(service: ApiKeyService<any>): Promise<void> {
  const cache = notifiedCache(service);
  if (!inNotifyProject() || !cache) return;
  await eventually(() => cache.ticket() < 0, 'the change channel to notice the outage');
}

/** The row cache of a service in notify mode, or `null`. */
export function notifiedCache(service: ApiKeyService<any>): ApiKeyRowCache<unknown> | null {
  // Private to the service: tests read it only to know when a change or an outage was heard.
  const cache = (service as unknown as { rowCache: ApiKeyRowCache<unknown> }).rowCache;
  return cache instanceof NotifiedRowCache ? cache : null;
}
