import { describe, expect, it } from 'vitest';
import { ApiKeyStoreUnavailableError } from '../api-key.errors.js';
import { ConcurrencyLimiter } from './limiter.js';

/** A task that runs until the test releases it, recording how many tasks ran alongside it. */
function gatedTask(
  limiter: ConcurrencyLimiter,
  record: { peak: number; started: number },
  group?: string,
  deferred?: boolean,
) {
  let release!: (value: string) => void;
  let fail!: (error: Error) => void;
  const gate = new Promise<string>((resolve, reject) => {
    release = resolve;
    fail = reject;
  });
  let started = false;
  const result = limiter.run(
    async () => {
      started = true;
      record.started++;
      record.peak = Math.max(record.peak, limiter.running);
      return gate;
    },
    group,
    deferred,
  );
  return { result, release, fail, started: () => started };
}

/** Lets every queued promise callback run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('ConcurrencyLimiter', () => {
  it('never runs more than maxConcurrent tasks at once, and runs them all', async () => {
    const limiter = new ConcurrencyLimiter(2, 100);
    const record = { peak: 0, started: 0 };
    const tasks = Array.from({ length: 10 }, () => gatedTask(limiter, record));
    await settle();
    expect(record.started).toBe(2);
    expect(limiter.running).toBe(2);
    expect(limiter.queued).toBe(8);
    for (const [index, task] of tasks.entries()) {
      task.release(`done ${index}`);
      await settle();
      expect(limiter.running).toBeLessThanOrEqual(2);
    }
    expect(await Promise.all(tasks.map((t) => t.result))).toEqual(
      tasks.map((_t, i) => `done ${i}`),
    );
    expect(record.peak).toBe(2);
    expect(record.started).toBe(10);
    expect(limiter.running).toBe(0);
    expect(limiter.queued).toBe(0);
  });

  it('starts waiting tasks in the order they came', async () => {
    const limiter = new ConcurrencyLimiter(1, 10);
    const record = { peak: 0, started: 0 };
    const first = gatedTask(limiter, record);
    const second = gatedTask(limiter, record);
    const third = gatedTask(limiter, record);
    await settle();
    expect([first.started(), second.started(), third.started()]).toEqual([true, false, false]);
    first.release('1');
    await settle();
    expect([second.started(), third.started()]).toEqual([true, false]);
    second.release('2');
    third.release('3');
    expect(await Promise.all([first.result, second.result, third.result])).toEqual(['1', '2', '3']);
  });

  it('refuses a task beyond maxQueued with ApiKeyStoreUnavailableError, without running it', async () => {
    const limiter = new ConcurrencyLimiter(1, 1);
    const record = { peak: 0, started: 0 };
    const running = gatedTask(limiter, record);
    const waiting = gatedTask(limiter, record);
    let ranRefused = false;
    await expect(limiter.run(async () => (ranRefused = true))).rejects.toBeInstanceOf(
      ApiKeyStoreUnavailableError,
    );
    expect(ranRefused).toBe(false);
    running.release('a');
    waiting.release('b');
    expect(await Promise.all([running.result, waiting.result])).toEqual(['a', 'b']);
    // Once the queue drains, tasks are accepted again.
    expect(await limiter.run(async () => 'later')).toBe('later');
  });

  it('with maxQueued 0, refuses whatever cannot start at once', async () => {
    const limiter = new ConcurrencyLimiter(1, 0);
    const running = gatedTask(limiter, { peak: 0, started: 0 });
    await expect(limiter.run(async () => 'x')).rejects.toBeInstanceOf(ApiKeyStoreUnavailableError);
    running.release('done');
    await running.result;
  });

  it('passes the slot on when a task fails or throws synchronously', async () => {
    const limiter = new ConcurrencyLimiter(1, 10);
    const record = { peak: 0, started: 0 };
    const failing = gatedTask(limiter, record);
    const next = gatedTask(limiter, record);
    const throwing = limiter.run(() => {
      throw new Error('sync failure');
    });
    const last = gatedTask(limiter, record);
    failing.fail(new Error('hash failed'));
    await expect(failing.result).rejects.toThrow('hash failed');
    await settle();
    expect(next.started()).toBe(true);
    next.release('next ran');
    await expect(throwing).rejects.toThrow('sync failure');
    await settle();
    expect(last.started()).toBe(true);
    last.release('last ran');
    expect(await next.result).toBe('next ran');
    expect(await last.result).toBe('last ran');
    expect(limiter.running).toBe(0);
    expect(record.peak).toBe(1);
  });

  it('runs one task of a group at a time, and lets other groups and ungrouped tasks past it', async () => {
    const limiter = new ConcurrencyLimiter(2, 10);
    const record = { peak: 0, started: 0 };
    const a1 = gatedTask(limiter, record, 'a');
    const a2 = gatedTask(limiter, record, 'a');
    const b1 = gatedTask(limiter, record, 'b');
    await settle();
    // a2 waits for a1 although a slot is free; b1, which came later, takes that slot.
    expect([a1.started(), a2.started(), b1.started()]).toEqual([true, false, true]);
    b1.release('b1');
    await settle();
    const free = gatedTask(limiter, record);
    await settle();
    expect([a2.started(), free.started()]).toEqual([false, true]);
    a1.release('a1');
    await settle();
    expect(a2.started()).toBe(true);
    a2.release('a2');
    free.release('free');
    expect(await Promise.all([a1.result, a2.result, b1.result, free.result])).toEqual([
      'a1',
      'a2',
      'b1',
      'free',
    ]);
    expect(limiter.running).toBe(0);
    expect(limiter.queued).toBe(0);
  });

  it('refuses a grouped task beyond maxQueuedPerGroup, and lets other groups take turns with a busy one', async () => {
    const limiter = new ConcurrencyLimiter(1, 10, 2);
    const record = { peak: 0, started: 0 };
    const running = gatedTask(limiter, record, 'flooded');
    const queued = [gatedTask(limiter, record, 'flooded'), gatedTask(limiter, record, 'flooded')];
    let ranRefused = false;
    await expect(limiter.run(async () => (ranRefused = true), 'flooded')).rejects.toBeInstanceOf(
      ApiKeyStoreUnavailableError,
    );
    expect(ranRefused).toBe(false);
    const other = gatedTask(limiter, record, 'other');
    expect(limiter.queued).toBe(3);
    running.release('r');
    await settle();
    // The other group came last but takes its turn before the flooded group runs again.
    expect([queued[0].started(), other.started()]).toEqual([false, true]);
    other.release('o');
    await settle();
    expect([queued[0].started(), queued[1].started()]).toEqual([true, false]);
    queued[0].release('q0');
    await settle();
    expect(queued[1].started()).toBe(true);
    queued[1].release('q1');
    expect(
      await Promise.all([running.result, ...queued.map((t) => t.result), other.result]),
    ).toEqual(['r', 'q0', 'q1', 'o']);
    // The group's share of the queue is free again.
    expect(await limiter.run(async () => 'again', 'flooded')).toBe('again');
    expect(record.peak).toBe(1);
  });

  it('gives a free slot to a group that has not had a turn before groups that have', async () => {
    const limiter = new ConcurrencyLimiter(1, 100, 10);
    const record = { peak: 0, started: 0 };
    // An attacker keeps two keys busy; a new key's check arrives after all of theirs.
    const a = [gatedTask(limiter, record, 'a'), gatedTask(limiter, record, 'a')];
    const b = [gatedTask(limiter, record, 'b'), gatedTask(limiter, record, 'b')];
    const fresh = gatedTask(limiter, record, 'fresh');
    await settle();
    expect(a[0].started()).toBe(true);
    a[0].release('a0');
    await settle();
    expect(b[0].started()).toBe(true);
    b[0].release('b0');
    await settle();
    // a and b have each had a turn; the new key has not, so it goes before their second checks.
    expect([fresh.started(), a[1].started(), b[1].started()]).toEqual([true, false, false]);
    fresh.release('fresh');
    await settle();
    expect(a[1].started()).toBe(true);
    a[1].release('a1');
    await settle();
    b[1].release('b1');
    expect(await Promise.all([...a, ...b, fresh].map((t) => t.result))).toEqual([
      'a0',
      'a1',
      'b0',
      'b1',
      'fresh',
    ]);
  });

  it('starts deferred tasks only when no other group waits, and keeps half the queue from them', async () => {
    const limiter = new ConcurrencyLimiter(1, 4, 10);
    const record = { peak: 0, started: 0 };
    const running = gatedTask(limiter, record, 'busy');
    const deferred = [gatedTask(limiter, record, 'd', true), gatedTask(limiter, record, 'e', true)];
    // Deferred tasks may hold half of the queue: the third is refused as its own group's doing.
    expect(limiter.refusal('f', true)).toBe('group');
    await expect(limiter.run(async () => 'x', 'f', true)).rejects.toBeInstanceOf(
      ApiKeyStoreUnavailableError,
    );
    // The other half stays free for tasks that are not deferred.
    expect(limiter.refusal('n')).toBeNull();
    const normal = [gatedTask(limiter, record, 'n'), gatedTask(limiter, record)];
    expect(limiter.refusal('m')).toBe('load');
    running.release('r');
    await settle();
    expect([normal[0].started(), deferred[0].started()]).toEqual([true, false]);
    normal[0].release('n');
    await settle();
    expect([normal[1].started(), deferred[0].started()]).toEqual([true, false]);
    normal[1].release('u');
    await settle();
    expect(deferred[0].started()).toBe(true);
    deferred[0].release('d');
    await settle();
    deferred[1].release('e');
    expect(await Promise.all([running, ...normal, ...deferred].map((t) => t.result))).toEqual([
      'r',
      'n',
      'u',
      'd',
      'e',
    ]);
    expect(limiter.queued).toBe(0);
  });
});
