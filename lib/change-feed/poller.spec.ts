import { Logger } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { ChangeCounterPoller } from './poller.js';

const INTERVAL = 50;

/** A counter store the test steers, and what the poller told its sink. */
function harness() {
  const state = {
    version: 0 as number | Error | 'hang',
    triggers: true,
    /** Whether the data source is open; a closed one throws, as TypeORM's does. */
    open: true,
    queries: 0,
    /** When each read of the version was issued, and what each success proved. */
    reads: [] as number[],
    proofs: [] as number[],
    events: [] as string[],
    warnings: [] as string[],
  };
  const query = async (sql: string) => {
    state.queries++;
    if (!state.open) throw new TypeError('The database connection is not open');
    if (!sql.startsWith('SELECT version')) return state.triggers ? [{ 1: 1 }] : [];
    state.reads.push(performance.now());
    if (state.version === 'hang') return new Promise<unknown[]>(() => {});
    if (state.version instanceof Error) throw state.version;
    return [{ version: String(state.version) }];
  };
  const sink = {
    changed: (prefix: string) => state.events.push(`changed ${prefix}`),
    down: () => state.events.push('down'),
    up: () => state.events.push('up'),
    proven: (since: number) => void state.proofs.push(since),
  };
  const logger = new Logger('test');
  logger.warn = (message: string) => void state.warnings.push(message);
  logger.log = () => {};
  // Room for a late timer on a loaded machine: a poll that answers is never taken for lost.
  const timing = { interval: INTERVAL, timeout: 1_000, maxStaleness: 3 * INTERVAL };
  const isOpen = () => state.open;
  const poller = new ChangeCounterPoller(
    query,
    'mysql',
    'api_keys',
    sink,
    logger,
    timing,
    [],
    isOpen,
  );
  return { state, poller };
}

describe('ChangeCounterPoller', () => {
  let stop: (() => Promise<void>) | undefined;
  afterEach(async () => stop?.());

  it('goes up after a poll, and drops every row when the version moves, not before', async () => {
    const { state, poller } = harness();
    stop = () => poller.close();
    poller.start();
    await sleep(3 * INTERVAL);
    expect(state.events).toEqual(['up']);
    state.version = 1;
    await sleep(3 * INTERVAL);
    expect(state.events).toEqual(['up', 'changed *']);
  });

  it('goes down when a poll fails, and up again once one succeeds', async () => {
    const { state, poller } = harness();
    stop = () => poller.close();
    poller.start();
    await sleep(3 * INTERVAL);
    state.version = new Error('connection lost');
    await sleep(3 * INTERVAL);
    expect(state.events.at(-1)).toBe('down');
    state.version = 5;
    await sleep(3 * INTERVAL);
    // Back up without a change report: the cache was emptied when it went down.
    expect(state.events.at(-1)).toBe('up');
    expect(state.events).not.toContain('changed *');
  });

  it('proves each successful poll from before it was read, and nothing once polls stall', async () => {
    const { state, poller } = harness();
    stop = () => poller.close();
    poller.start();
    await sleep(3 * INTERVAL);
    expect(state.proofs.length).toBeGreaterThan(0);
    // A proof covers changes committed before the poll began, never later than its read.
    state.proofs.forEach((since, i) => expect(since).toBeLessThanOrEqual(state.reads[i]));
    state.version = 'hang';
    const hungAt = performance.now();
    await sleep(3 * INTERVAL);
    expect(state.proofs.filter((since) => since >= hungAt)).toEqual([]);
  });

  it('goes down when no poll has succeeded for maxStaleness (a stalled connection)', async () => {
    const { state, poller } = harness();
    stop = () => poller.close();
    poller.start();
    await sleep(3 * INTERVAL);
    state.version = 'hang';
    await sleep(7 * INTERVAL);
    expect(state.events).toEqual(['up', 'down']);
  });

  it('stops polling, quietly, once the data source is destroyed before it was closed', async () => {
    const { state, poller } = harness();
    stop = () => poller.close();
    poller.start();
    await sleep(3 * INTERVAL);
    expect(state.events).toEqual(['up']);
    state.open = false;
    await sleep(2 * INTERVAL);
    const queries = state.queries;
    await sleep(3 * INTERVAL);
    // Serving nothing cached, polling nothing, and reporting no outage: nothing is left to poll.
    expect(state.events.at(-1)).toBe('down');
    expect(state.queries).toBe(queries);
    expect(state.warnings).toEqual([]);
  });

  it('stays down while the triggers or the counter are missing', async () => {
    const { state, poller } = harness();
    stop = () => poller.close();
    state.triggers = false;
    poller.start();
    await sleep(4 * INTERVAL);
    expect(state.events).not.toContain('up');
    state.triggers = true;
    await sleep(3 * INTERVAL);
    expect(state.events.at(-1)).toBe('up');
  });
});
