import type { Logger } from '@nestjs/common';
import type { ApiKeyChangeChannel, ApiKeyChangeSink } from './cache.js';
import { changeTriggerNames, hasChangeTriggers } from './owner-triggers.js';
import type { OwnerTable } from './owners.js';
import { EVERY_KEY } from './triggers.js';
import { readChangeCounterSql, type CounterDialect } from './counter.js';
import { withinStoreTimeout } from '../store/deadline.js';

/** Runs one parameterised query on the data source's pool. */
export type CounterQuery = (sql: string, parameters?: unknown[]) => Promise<unknown[]>;

/** How the poller is paced. */
export interface PollerTiming {
  /** Milliseconds between polls of the change counter. */
  interval: number;
  /** Milliseconds a poll may take before it counts as failed. */
  timeout: number;
  /**
   * Milliseconds the cache may serve after the start of the last successful poll (its lease);
   * with no success for that long, the counter counts as lost.
   */
  maxStaleness: number;
}

/**
 * Polls the change counter of the key table (MariaDB/MySQL, SQLite), one query per interval on
 * the data source's pool: when its version moves, every cached row is dropped. The sink is told
 * it is up once a poll succeeds (the first after an outage also checks that the triggers exist),
 * and each success proves every change committed before the poll began was seen, which renews
 * the cache's lease for `maxStaleness`. It is told down as soon as a poll fails, or when no poll
 * has succeeded for `maxStaleness` (a stalled connection, a lock, a busy event loop), since a
 * change could then have gone unseen; a poll that answers later than that counts as failed. The
 * window in which a cached row can outlive its change is one interval plus one poll while polls
 * succeed, and `maxStaleness` from the last success when they stop.
 */
export class ChangeCounterPoller implements ApiKeyChangeChannel {
  private timer: NodeJS.Timeout | undefined;
  private polling = false;
  private healthy = false;
  private closed = false;
  private version: string | null = null;
  /** When the last successful poll began: changes committed before then have been seen. */
  private seenUntil = 0;
  private reportedOutage = false;

  constructor(
    private readonly query: CounterQuery,
    private readonly dialect: CounterDialect,
    private readonly table: string,
    private readonly sink: ApiKeyChangeSink,
    private readonly logger: Logger,
    private readonly timing: PollerTiming,
    /** The tables `usableWhere` reads, whose owner triggers bump the same counter. */
    private readonly owners: OwnerTable[] = [],
    /**
     * Whether the data source is still open: once it is destroyed (before the app shut down and
     * closed this), polling stops quietly, as there is nothing left to poll or to report.
     */
    private readonly isOpen: () => boolean = () => true,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.tick(), this.timing.interval).unref();
    void this.poll();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    this.sink.down();
  }

  /** How long since the last successful poll began before the cache may no longer be served. */
  private get lateAfter(): number {
    return this.timing.maxStaleness;
  }

  private tick(): void {
    if (!this.isOpen()) return void this.close();
    if (this.healthy && performance.now() - this.seenUntil > this.lateAfter)
      this.lost(new Error(`no poll of the change counter succeeded for ${this.lateAfter} ms`));
    if (!this.polling) void this.poll();
  }

  private async poll(): Promise<void> {
    this.polling = true;
    try {
      // Before the first success the module is still creating them at boot (or failing it).
      if (!this.healthy && !(await this.checkTriggers())) return;
      const started = performance.now();
      const version = await withinStoreTimeout(this.readVersion(), this.timing.timeout);
      if (this.closed) return;
      if (performance.now() - started > this.lateAfter)
        throw new Error(`the change counter answered after more than ${this.lateAfter} ms`);
      if (this.healthy && version !== this.version) this.sink.changed(EVERY_KEY);
      this.version = version;
      this.seenUntil = started;
      if (!this.healthy) this.recovered();
      this.sink.proven(started);
    } catch (error) {
      if (this.isOpen()) this.lost(error as Error);
      else void this.close();
    } finally {
      this.polling = false;
    }
  }

  private async readVersion(): Promise<string> {
    const [row] = (await this.query(readChangeCounterSql(this.dialect, this.table))) as Array<{
      version?: unknown;
    }>;
    if (row?.version === undefined || row.version === null)
      throw new Error(`the change counter "${this.table}_changes" has no row`);
    return String(row.version);
  }

  /**
   * Whether the triggers and the counter exist.
   *
   * @throws {Error} naming the fix when they are missing after having been there
   */
  private async checkTriggers(): Promise<boolean> {
    if (await hasChangeTriggers(this.query, this.dialect, this.table, this.owners)) return true;
    if (this.version === null) return false;
    throw new Error(
      `a change trigger of "${this.table}" (${changeTriggerNames(this.table, this.owners)}) or its change counter is missing. ` +
        'Fix: run createApiKeyNotifyMigration(), or let the module create them at boot',
    );
  }

  private recovered(): void {
    this.healthy = true;
    if (this.reportedOutage) this.logger.log(`Polling API key changes again on "${this.table}".`);
    this.reportedOutage = false;
    this.sink.up();
  }

  /** A poll failed or is late: serve nothing cached until one succeeds again. */
  private lost(error: Error): void {
    this.healthy = false;
    this.sink.down();
    if (this.closed || this.reportedOutage) return;
    this.logger.warn(
      `Lost the API key change counter of "${this.table}" (${error.message}); ` +
        'keys are read on every request until polls succeed again.',
    );
    this.reportedOutage = true;
  }
}
