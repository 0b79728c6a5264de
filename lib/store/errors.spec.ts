import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openKeyStore, type KeyStore } from '../../test/support/key-store.js';
import { ApiKeyStoreUnavailableError } from '../api-key.errors.js';
import { generateKey } from '../keys/format.js';
import { storeUnavailable, ThrottledErrorLog } from './errors.js';

/** A logger that keeps its lines. */
function lines() {
  const logged: string[] = [];
  return { logged, logger: { error: (message: string) => void logged.push(message) } };
}

describe('ThrottledErrorLog', () => {
  beforeAll(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  });
  afterAll(() => {
    vi.useRealTimers();
  });

  it('logs a cause at once, then one line per interval with how many more times it occurred', async () => {
    const { logged, logger } = lines();
    const log = new ThrottledErrorLog(logger, 10_000);
    for (let i = 0; i < 500; i++) log.error('Could not read an API key: connection refused');
    log.error('Could not list API keys: connection refused');
    expect(logged).toEqual([
      'Could not read an API key: connection refused',
      'Could not list API keys: connection refused',
    ]);
    await vi.advanceTimersByTimeAsync(5_000);
    for (let i = 0; i < 100; i++) log.error('Could not read an API key: connection refused');
    await vi.advanceTimersByTimeAsync(5_000);
    expect(logged.slice(2)).toEqual([
      'Could not read an API key: connection refused (599 more times in the last 10 s)',
    ]);
    // Still failing: the next interval gets its own summary, and no line per occurrence.
    log.error('Could not read an API key: connection refused');
    await vi.advanceTimersByTimeAsync(10_000);
    expect(logged.slice(3)).toEqual([
      'Could not read an API key: connection refused (1 more time in the last 10 s)',
    ]);
    // A quiet interval ends the cause: its next occurrence is logged at once, as new.
    await vi.advanceTimersByTimeAsync(10_000);
    expect(logged).toHaveLength(4);
    log.error('Could not read an API key: connection refused');
    expect(logged).toHaveLength(5);
    expect(logged[4]).toBe('Could not read an API key: connection refused');
  });

  it('counts causes beyond its bound together, so memory stays bounded', async () => {
    const { logged, logger } = lines();
    const log = new ThrottledErrorLog(logger, 10_000);
    for (let i = 0; i < 300; i++) log.error(`Could not read an API key: session ${i} killed`);
    // 100 distinct causes, then the first of the rest; the others are counted.
    expect(logged).toHaveLength(101);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(logged.slice(101)).toEqual([
      'Could not reach the key store (further causes) (199 more times in the last 10 s)',
    ]);
  });
});

describe('store failures logged by ApiKeyService', () => {
  let store: KeyStore;

  beforeAll(async () => {
    Logger.overrideLogger(false);
    store = await openKeyStore('sqlite');
  });
  afterAll(async () => {
    await store?.close();
  });

  it('writes one line, not one per refused request, while the store is down', async () => {
    const service = store.service();
    const { key } = await service.create({ name: 'outage-log' });
    const errors = vi.spyOn((service as any).logger as Logger, 'error');
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    await store.dataSource.query('ALTER TABLE api_keys RENAME TO api_keys_away');
    try {
      for (let i = 0; i < 50; i++) {
        const other = `${generateKey().prefix}.${key.slice(9)}`;
        await expect(service.verify(i % 2 ? key : other)).rejects.toBeInstanceOf(
          ApiKeyStoreUnavailableError,
        );
      }
      expect(errors).toHaveBeenCalledTimes(1);
      expect(String(errors.mock.calls[0][0])).toMatch(/^Could not read an API key: /);
      await vi.advanceTimersByTimeAsync(10_000);
      expect(errors).toHaveBeenCalledTimes(2);
      expect(String(errors.mock.calls[1][0])).toMatch(/\(49 more times in the last 10 s\)$/);
    } finally {
      vi.useRealTimers();
      await store.dataSource.query('ALTER TABLE api_keys_away RENAME TO api_keys');
    }
  });

  it('passes an ApiKeyStoreUnavailableError through unlogged', () => {
    const { logged, logger } = lines();
    const error = new ApiKeyStoreUnavailableError('queue full');
    expect(storeUnavailable(logger, 'read an API key', error)).toBe(error);
    expect(logged).toEqual([]);
  });
});
