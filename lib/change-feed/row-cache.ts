import type { StoredApiKeyRow } from '../store/lookup.js';
import { LruMap } from '../verification/lru.js';

/** Rows a per-process row cache holds at most; the least recently used go first. */
export const ROW_CACHE_ENTRIES = 10_000;

/**
 * A per-process cache of key rows, in front of the per-request read. A read takes a `ticket`
 * first, looks the prefix up with it, and on a miss stores what it read with the same ticket,
 * so a cache can refuse a row that may have changed while it was being read.
 */
export interface ApiKeyRowCache<T> {
  /** Whether the cache keeps rows at all (a `rowCacheTtl` of 0 keeps none). */
  readonly caching: boolean;
  /** What a read takes before it starts. */
  ticket(): number;
  /** The cached row of `prefix`, if it may be served to a read holding `ticket`. */
  get(prefix: string, ticket: number): StoredApiKeyRow<T> | undefined;
  /** Remembers `row`, read under `ticket`, unless the cache says it may be stale. */
  set(prefix: string, row: StoredApiKeyRow<T>, ticket: number): void;
  /** Forgets `prefix`, as a change made in this process requires. */
  delete(prefix: string): void;
  /** Stops what keeps the cache current; it serves nothing afterwards. */
  close(): Promise<void>;
}

/**
 * `rowCacheTtl`: a row is served for `ttl` ms after it was read, whatever happened to it since
 * in other processes. A ticket is the instant the read began. A `ttl` of 0 caches nothing.
 */
export class TtlRowCache<T> implements ApiKeyRowCache<T> {
  private readonly rows: LruMap<string, StoredApiKeyRow<T> & { until: number }>;

  constructor(
    private readonly ttl: number,
    private readonly clock: () => Date,
  ) {
    this.rows = new LruMap(ttl > 0 ? ROW_CACHE_ENTRIES : 0);
  }

  get caching(): boolean {
    return this.ttl > 0;
  }

  ticket(): number {
    return this.ttl > 0 ? this.clock().getTime() : 0;
  }

  get(prefix: string, now: number): StoredApiKeyRow<T> | undefined {
    if (this.ttl <= 0) return undefined;
    const cached = this.rows.get(prefix);
    return cached && cached.until > now ? cached : undefined;
  }

  set(prefix: string, row: StoredApiKeyRow<T>, now: number): void {
    if (this.ttl > 0) this.rows.set(prefix, { ...row, until: now + this.ttl });
  }

  delete(prefix: string): void {
    this.rows.delete(prefix);
  }

  async close(): Promise<void> {}
}
