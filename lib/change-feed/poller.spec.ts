import { Logger } from '@nestjs/common';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
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
  // The clock is faked, so the lease can be as tight as in production: an interval plus a margin.
  const timing = { interval: INTERVAL, timeout: 1_000, maxStaleness: 2 * INTERVAL + 10 };
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

/**
 * The poller is paced by the clock, so the clock is faked: each test moves it by whole intervals
 * and every poll due by then has run (and its queries settled) before the test looks.
 */
describe('ChangeCounterPoller', () => {
  let stop: (() => Promise<void>) | undefined;
  beforeEach(() => {
    vi.useFakeTimers({
      toFake: ['setInterval', 'clearInterval', 'setTimeout', 'clearTimeout', 'performance'],
    });
  });
  afterEach(async () => {
    await stop?.();
    vi.useRealTimers();
  });

  /** Moves the clock on by `intervals` poll intervals, running every poll due on the way. */
  const pass = (intervals: number) => vi.advanceTimersByTimeAsync(intervals * INTERVAL);

  it('goes up after a poll, and drops every row when the version moves, not before', async () => {
    const { state, poller } = harness();
    stop = () => poller.close();
    poller.start();
    await pass(3);
    expect(state.events).toEqual(['up']);
    state.version = 1;
    await pass(1);
    expect(state.events).toEqual(['up', 'changed *']);
    await pass(3);
    expect(state.events).toEqual(['up', 'changed *']);
  });

  it('goes down when a poll fails, and up again once one succeeds', async () => {
    const { state, poller } = harness();
    stop = () => poller.close();
    poller.start();
    await pass(1);
    state.version = new Error('connection lost');
    await pass(1);
    expect(state.events).toEqual(['up', 'down']);
    expect(state.warnings).toEqual([expect.stringContaining('connection lost')]);
    state.version = 5;
    await pass(1);
    // Back up without a change report: the cache was emptied when it went down.
    expect(state.events).toEqual(['up', 'down', 'up']);
  });

  it('proves each successful poll from before it was read, and nothing once polls stall', async () => {
    const { state, poller } = harness();
    stop = () => poller.close();
    poller.start();
    await pass(3);
    expect(state.proofs.length).toBeGreaterThan(0);
    // A proof covers changes committed before the poll began, never later than its read.
    state.proofs.forEach((since, i) => expect(since).toBeLessThanOrEqual(state.reads[i]));
    state.version = 'hang';
    // A poll begun at this same instant has already read (timers due now ran in pass(3)).
    const hungAt = performance.now();
    await pass(3);
    expect(state.proofs.filter((since) => since > hungAt)).toEqual([]);
  });

  it('goes down when no poll has succeeded for maxStaleness (a stalled connection)', async () => {
    const { state, poller } = harness();
    stop = () => poller.close();
    poller.start();
    await pass(1);
    state.version = 'hang';
    await pass(2);
    // Not maxStaleness (two intervals and 10 ms) yet since the last successful poll began.
    expect(state.events).toEqual(['up']);
    await pass(1);
    expect(state.events).toEqual(['up', 'down']);
    expect(state.warnings).toEqual([expect.stringContaining('no poll of the change counter')]);
  });

  it('stops polling, quietly, once the data source is destroyed before it was closed', async () => {
    const { state, poller } = harness();
    stop = () => poller.close();
    poller.start();
    await pass(1);
    expect(state.events).toEqual(['up']);
    state.open = false;
    await pass(1);
    const queries = state.queries;
    await pass(3);
    // Serving nothing cached, polling nothing, and reporting no outage: nothing is left to poll.
    expect(state.events).toEqual(['up', 'down']);
    expect(state.queries).toBe(queries);
    expect(state.warnings).toEqual([]);
  });

  it('stays down while the triggers or the counter are missing', async () => {
    const { state, poller } = harness();
    stop = () => poller.close();
    state.triggers = false;
    poller.start();
    await pass(4);
    expect(state.queries).toBeGreaterThanOrEqual(4);
    expect(state.events).toEqual([]);
    state.triggers = true;
    await pass(1);
    expect(state.events).toEqual(['up']);
  });
});
