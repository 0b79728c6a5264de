import { Logger } from '@nestjs/common';
import type { Repository } from 'typeorm';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ApiKey } from '../api-key.entity.js';
import { ApiKeyUsageRecorder } from './usage.js';

const STORE_TIMEOUT = 1_000;

/** A repository whose database never answers an UPDATE. */
function stalledRepository() {
  const update = vi.fn(() => new Promise<never>(() => {}));
  return { update, repository: { update } as unknown as Repository<ApiKey> };
}

const key = (id: string) => ({ id, lastUsedAt: null }) as ApiKey;

describe('ApiKeyUsageRecorder on a stalled database', () => {
  let warn: ReturnType<typeof vi.spyOn>;
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => {});
  });
  afterEach(() => {
    vi.useRealTimers();
    warn.mockRestore();
  });

  it('gives a round up after one write times out, keeping every mark of it for the next', async () => {
    const { update, repository } = stalledRepository();
    const recorder = new ApiKeyUsageRecorder(repository, 60_000, { storeTimeout: STORE_TIMEOUT });
    // Three instants: three statements, had the first one answered.
    for (const [i, id] of ['a', 'b', 'c'].entries()) recorder.record(key(id), new Date(1_000 + i));
    let flushed = false;
    void recorder.flush().then(() => (flushed = true));
    await vi.advanceTimersByTimeAsync(STORE_TIMEOUT);
    expect(flushed).toBe(true);
    expect(update).toHaveBeenCalledTimes(1);
    expect(recorder.pendingCount).toBe(3);
    expect(warn).toHaveBeenCalledTimes(1);
  });

  it('lets shutdown finish in bounded time: each attempt within storeTimeout, plus the retry pauses', async () => {
    const { update, repository } = stalledRepository();
    const retryDelays = [250, 750];
    const recorder = new ApiKeyUsageRecorder(repository, 60_000, {
      storeTimeout: STORE_TIMEOUT,
      shutdownRetryDelays: retryDelays,
    });
    recorder.record(key('a'), new Date(1_000));
    recorder.record(key('b'), new Date(2_000));
    let closed = false;
    void recorder.close().then(() => (closed = true));
    const bound = (retryDelays.length + 1) * STORE_TIMEOUT + 250 + 750;
    await vi.advanceTimersByTimeAsync(bound - 1);
    expect(closed).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(closed).toBe(true);
    expect(update).toHaveBeenCalledTimes(retryDelays.length + 1);
  });
});
