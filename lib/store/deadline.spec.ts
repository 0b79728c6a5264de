import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiKeyStoreTimeoutError, withinStoreTimeout } from './deadline.js';

describe('withinStoreTimeout', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('settles as the operation does when it answers in time, leaving no timer', async () => {
    await expect(withinStoreTimeout(Promise.resolve('row'), 1_000)).resolves.toBe('row');
    const failure = new Error('connection reset');
    await expect(withinStoreTimeout(Promise.reject(failure), 1_000)).rejects.toBe(failure);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects with ApiKeyStoreTimeoutError once the timeout has passed, not before', async () => {
    const bounded = withinStoreTimeout(new Promise<never>(() => {}), 1_000);
    const refused = expect(bounded).rejects.toThrow(new ApiKeyStoreTimeoutError(1_000).message);
    await vi.advanceTimersByTimeAsync(999);
    let settled = false;
    void bounded.catch(() => (settled = true));
    await Promise.resolve();
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await refused;
    await expect(bounded).rejects.toBeInstanceOf(ApiKeyStoreTimeoutError);
  });
});
