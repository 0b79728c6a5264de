import 'reflect-metadata';
import type { Repository } from 'typeorm';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { insertKey } from '../../test/support/key-rows.js';
import { openKeyStore, type KeyStore } from '../../test/support/key-store.js';
import type { CompiledLookup } from './compiled/lookup.js';
import { ApiKey } from '../api-key.entity.js';
import { ApiKeyPrefixLookup } from './lookup.js';
import { ApiKeyStoreTimeoutError } from './deadline.js';

const STORE_TIMEOUT = 1_000;

/** Lets the lookup's deferrals run (they are `setImmediate`, left real), so reads start. */
async function turns(): Promise<void> {
  for (let i = 0; i < 4; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** How a call to `find` ended so far. */
function outcome(found: Promise<unknown>): {
  state: 'pending' | 'found' | 'refused';
  error?: unknown;
} {
  const seen: { state: 'pending' | 'found' | 'refused'; error?: unknown } = { state: 'pending' };
  found.then(
    () => (seen.state = 'found'),
    (error) => Object.assign(seen, { state: 'refused', error }),
  );
  return seen;
}

/**
 * The lookup's deadline, on a clock the test moves: reads are made to stall by replacing the
 * compiled lookup's `run` with one whose answers the test gives, when it likes.
 */
describe('ApiKeyPrefixLookup deadline', () => {
  let store: KeyStore;
  let keys: Repository<ApiKey>;
  let lookup: ApiKeyPrefixLookup<ApiKey>;
  let prefix: string;
  let realRun: CompiledLookup['run'];
  /** The reads started since the stall began, each with how to answer it. */
  let reads: Array<{ answer: () => Promise<void> }>;

  beforeAll(async () => {
    store = await openKeyStore('sqlite');
    keys = store.dataSource.getRepository(ApiKey);
  });
  afterAll(async () => {
    await store?.close();
  });
  beforeEach(async () => {
    prefix = (await insertKey(keys)).prefix;
    lookup = new ApiKeyPrefixLookup(keys, null, STORE_TIMEOUT);
    // Compiled on a real read first.
    expect(await lookup.find(prefix)).not.toBeNull();
    const compiled = (lookup as unknown as { compiled: CompiledLookup }).compiled;
    realRun = compiled.run;
    reads = [];
    compiled.run = (sql, parameters) =>
      new Promise((resolve, reject) => {
        const answer = () => realRun(sql, parameters).then(resolve, reject);
        reads.push({ answer });
      });
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('refuses the callers of a stalled read at storeTimeout, not before', async () => {
    const callers = [outcome(lookup.find(prefix)), outcome(lookup.find(prefix))];
    await turns();
    expect(reads).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(STORE_TIMEOUT - 1);
    for (const caller of callers) expect(caller.state).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    for (const caller of callers) {
      expect(caller.state).toBe('refused');
      expect(caller.error).toBeInstanceOf(ApiKeyStoreTimeoutError);
    }
  });

  it('bounds a caller that came during a stalled read from its own arrival, with a read of its own', async () => {
    const early = outcome(lookup.find(prefix));
    await turns();
    await vi.advanceTimersByTimeAsync(400);
    const late = outcome(lookup.find(prefix));
    await turns();
    // The late caller does not join the read already out.
    expect(reads).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(600);
    expect(early.state).toBe('refused');
    expect(late.state).toBe('pending');
    await turns();
    expect(reads).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(399);
    expect(late.state).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(late.state).toBe('refused');
    expect(late.error).toBeInstanceOf(ApiKeyStoreTimeoutError);
  });

  it('lets the late answer of a read it gave up on answer no one, and reads afresh for the next caller', async () => {
    const stalled = outcome(lookup.find(prefix));
    await turns();
    await vi.advanceTimersByTimeAsync(STORE_TIMEOUT);
    expect(stalled.state).toBe('refused');

    const next = lookup.find(prefix);
    await turns();
    expect(reads).toHaveLength(2);
    // The abandoned read answers now: it must neither answer nor disturb the read out since.
    await reads[0].answer();
    await turns();
    expect(outcome(next).state).toBe('pending');
    await reads[1].answer();
    expect((await next)!.row.prefix).toBe(prefix);
    expect(stalled.state).toBe('refused');
  });

  it('leaves no timer behind once a read answers in time', async () => {
    const found = lookup.find(prefix);
    await turns();
    await reads[0].answer();
    expect((await found)!.row.prefix).toBe(prefix);
    expect(vi.getTimerCount()).toBe(0);
  });
});
