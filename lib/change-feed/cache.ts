import type { StoredApiKeyRow } from '../store/lookup.js';
import { LruMap } from '../verification/lru.js';
import { EVERY_KEY } from './triggers.js';

/** Rows the notify-mode cache holds at most; the least recently used go first. */
export const ROW_CACHE_ENTRIES = 10_000;

/**
 * A per-process cache of key rows, in front of the per-request read. A read takes a `ticket`
 * first, looks the prefix up with it, and on a miss stores what it read with the same ticket,
 * so a cache can refuse a row that may have changed while it was being read.
 */
export interface ApiKeyRowCache<T> {
  /** Whether the cache keeps rows at all (in `revocationSync: 'read'` it keeps none). */
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
 * `revocationSync: 'read'`: no row is kept, so every request reads its key row and a change
 * made anywhere applies to the next request.
 */
export class UncachedRows<T> implements ApiKeyRowCache<T> {
  readonly caching = false;

  ticket(): number {
    return 0;
  }

  get(): StoredApiKeyRow<T> | undefined {
    return undefined;
  }

  set(): void {}

  delete(): void {}

  async close(): Promise<void> {}
}

/** What a change channel (a PostgreSQL listener, a poller) tells the cache it keeps current. */
export interface ApiKeyChangeSink {
  /** The row of `prefix` (every row for `*`) changed or is gone. */
  changed(prefix: string): void;
  /** The channel is down or may have missed a change: nothing cached may be served. */
  down(): void;
  /** The channel is up and will report every change from now on. */
  up(): void;
  /**
   * Every change committed before `since` (a `performance.now()` time) has been reported: a
   * round trip that began then came back. It renews the cache's lease.
   */
  proven(since: number): void;
}

/** A change channel the cache starts and stops. */
export interface ApiKeyChangeChannel {
  /** Connects, in the background; reports through the sink. */
  start(): void;
  /** Disconnects for good. */
  close(): Promise<void>;
}

/**
 * `revocationSync: 'notify'`: rows are served from memory only while a change channel is up and
 * holds a lease, and dropped when it reports their change. Every report and every outage moves
 * an epoch; a ticket is the epoch a read began in (or -1 while the channel is down or its lease
 * has lapsed), and a row read under an older epoch is not stored, since a change may have been
 * reported while it was on its way. Expiry needs no report: the service checks `expiresAt`
 * against the clock on every request.
 *
 * The lease: a channel that goes silent without closing (a black hole) reports nothing, not
 * even that it is down, until a timeout says so. So a row is served only until `maxStaleness`
 * ms after the start of the channel's last successful round trip (`proven`), which bounds how
 * long a change made during such a partition can go unheard. A lapse alone empties nothing: the
 * next round trip proves every change before it was reported, so the rows kept are current.
 * The check reads the clock instead of waiting for a timer, so a busy event loop cannot delay it.
 */
export class NotifiedRowCache<T> implements ApiKeyRowCache<T>, ApiKeyChangeSink {
  private readonly rows = new LruMap<string, StoredApiKeyRow<T>>(ROW_CACHE_ENTRIES);
  private epoch = 0;
  private healthy = false;
  /** The `performance.now()` time the lease ends at; `-Infinity` when there is none. */
  private trustedUntil = -Infinity;
  private channel: ApiKeyChangeChannel | null = null;
  readonly caching = true;

  /**
   * @param maxStaleness milliseconds a row may be served after the start of the channel's last
   *   successful round trip
   */
  constructor(readonly maxStaleness: number) {}

  /** Starts `channel`, which keeps this cache current from now on. */
  attach(channel: ApiKeyChangeChannel): void {
    this.channel = channel;
    channel.start();
  }

  /** Whether the channel is up (its lease may still have lapsed: see `ticket`). */
  get serving(): boolean {
    return this.healthy;
  }

  /**
   * When the current lease ends, as a `performance.now()` time (`-Infinity` while the channel
   * is down): no row is served from memory at or after it unless a round trip renews it.
   */
  get leaseEnd(): number {
    return this.trustedUntil;
  }

  ticket(): number {
    // One clock read and a comparison: the hit path stays synchronous and takes no timer.
    return this.healthy && performance.now() < this.trustedUntil ? this.epoch : -1;
  }

  get(prefix: string, ticket: number): StoredApiKeyRow<T> | undefined {
    return ticket < 0 ? undefined : this.rows.get(prefix);
  }

  set(prefix: string, row: StoredApiKeyRow<T>, ticket: number): void {
    if (this.healthy && ticket === this.epoch) this.rows.set(prefix, row);
  }

  delete(prefix: string): void {
    this.changed(prefix);
  }

  changed(prefix: string): void {
    this.epoch++;
    if (prefix === EVERY_KEY) this.rows.clear();
    else this.rows.delete(prefix);
  }

  down(): void {
    this.healthy = false;
    this.trustedUntil = -Infinity;
    this.epoch++;
    this.rows.clear();
  }

  up(): void {
    this.epoch++;
    this.healthy = true;
  }

  proven(since: number): void {
    // A round trip of a channel since lost proves nothing about the one that replaced it.
    if (this.healthy) this.trustedUntil = Math.max(this.trustedUntil, since + this.maxStaleness);
  }

  async close(): Promise<void> {
    this.down();
    await this.channel?.close();
  }
}
