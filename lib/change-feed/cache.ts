import type { StoredApiKeyRow } from '../store/lookup.js';
import { LruMap } from '../verification/lru.js';
import { ROW_CACHE_ENTRIES, type ApiKeyRowCache } from './row-cache.js';
import { EVERY_KEY } from './notify-sql.js';

/** What a change channel (a PostgreSQL listener, a poller) tells the cache it keeps current. */
export interface ApiKeyChangeSink {
  /** The row of `prefix` (every row for `*`) changed or is gone. */
  changed(prefix: string): void;
  /** The channel is down or may have missed a change: nothing cached may be served. */
  down(): void;
  /** The channel is up and will report every change from now on. */
  up(): void;
}

/** A change channel the cache starts and stops. */
export interface ApiKeyChangeChannel {
  /** Connects, in the background; reports through the sink. */
  start(): void;
  /** Disconnects for good. */
  close(): Promise<void>;
}

/**
 * `revocationSync: 'notify'`: rows are served from memory only while a change channel is up,
 * and dropped when it reports their change. Every report and every outage moves an epoch; a
 * ticket is the epoch a read began in (or -1 while the channel is down), and a row read under an
 * older epoch is not stored, since a change may have been reported while it was on its way.
 * Expiry needs no report: the service checks `expiresAt` against the clock on every request.
 */
export class NotifiedRowCache<T> implements ApiKeyRowCache<T>, ApiKeyChangeSink {
  private readonly rows = new LruMap<string, StoredApiKeyRow<T>>(ROW_CACHE_ENTRIES);
  private epoch = 0;
  private healthy = false;
  private channel: ApiKeyChangeChannel | null = null;
  readonly caching = true;

  /** Starts `channel`, which keeps this cache current from now on. */
  attach(channel: ApiKeyChangeChannel): void {
    this.channel = channel;
    channel.start();
  }

  /** Whether rows may be served now (the channel is up). */
  get serving(): boolean {
    return this.healthy;
  }

  ticket(): number {
    return this.healthy ? this.epoch : -1;
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
    this.epoch++;
    this.rows.clear();
  }

  up(): void {
    this.epoch++;
    this.healthy = true;
  }

  async close(): Promise<void> {
    this.down();
    await this.channel?.close();
  }
}
