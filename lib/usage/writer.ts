/**
 * Writes the counts of every registration of one data source: one upsert-increment statement per
 * flush (`flushInterval`, and at each hour boundary), early when a tally fills up, and at
 * shutdown. During an outage, unwritten counts wait for the next flush up to a bound, beyond
 * which they are dropped and one line says how many.
 */
import { Logger } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { withinStoreTimeout } from '../store/deadline.js';
import { batchRows, type UsageRow, type UsageTally } from './tally.js';
import { pruneStatement, upsertStatement, type Statement, type UsageDialect } from './sql.js';

/** What a registration asks of the writer. */
export interface UsageWriterSettings {
  flushInterval: number;
  retentionDays: number;
  storeTimeout: number;
}

/** How often counts past the retention are deleted, at most: once an hour per process. */
const PRUNE_EVERY_MS = 3_600_000;
/** The longest delay a Node timer takes as given. */
const MAX_TIMER_DELAY = 2 ** 31 - 1;

/** The writer of each data source: registrations sharing one share its single statement. */
const writers = new WeakMap<DataSource, UsageWriter>();

/** The writer of `dataSource`, made on first use. */
export function usageWriterOf(dataSource: DataSource, dialect: UsageDialect): UsageWriter {
  let writer = writers.get(dataSource);
  if (!writer) {
    writer = new UsageWriter(
      (statement) => dataSource.query(statement.sql, statement.parameters),
      dialect,
    );
    writers.set(dataSource, writer);
  }
  return writer;
}

/**
 * The flush loop of one data source. `attach()` a registration's tally; `detach()` it at
 * shutdown, which writes what it counted.
 */
export class UsageWriter {
  private readonly logger = new Logger('ApiKeyUsage');
  private readonly tallies = new Map<UsageTally, UsageWriterSettings>();
  /** Rows a failed write left, merged by key, waiting for the next flush. */
  private unwritten = new Map<string, UsageRow>();
  /** Requests counted but given up since the last line saying so. */
  private dropped = 0;
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> | null = null;
  private lastPrune = -Infinity;

  /**
   * @param run runs one statement, rejecting when the store fails
   * @param shutdownRetryDelays pauses before each further attempt of `detach()`, in ms
   */
  constructor(
    private readonly run: (statement: Statement) => Promise<unknown>,
    readonly dialect: UsageDialect,
    private readonly shutdownRetryDelays: readonly number[] = [250, 1000],
  ) {}

  /** Rows waiting after a failed write, at most the largest `maxPendingKeys` attached. */
  get unwrittenRows(): number {
    return this.unwritten.size;
  }

  /** Starts counting `tally` into this writer's flushes. */
  attach(tally: UsageTally, settings: UsageWriterSettings): void {
    this.tallies.set(tally, settings);
    tally.onFull = () => void this.flush();
    this.schedule();
  }

  /** Writes what `tally` counted, then stops flushing it (and stops the loop if it was the last). */
  async detach(tally: UsageTally): Promise<void> {
    if (!this.tallies.has(tally)) return;
    await this.flush();
    for (const delay of this.shutdownRetryDelays) {
      if (![...this.unwritten.values()].some((row) => row.registration === tally.registration))
        break;
      await new Promise((resolve) => setTimeout(resolve, delay));
      await this.flush();
    }
    this.tallies.delete(tally);
    if (this.unwritten.size > 0 || this.dropped > 0) {
      // Nothing will retry after shutdown: what is left is lost, and said so.
      this.dropped += [...this.unwritten.values()]
        .filter((row) => row.registration === tally.registration)
        .reduce((sum, row) => sum + row.requests, 0);
      for (const [key, row] of this.unwritten)
        if (row.registration === tally.registration) this.unwritten.delete(key);
      this.reportDropped('at shutdown');
    }
    if (this.tallies.size === 0 && this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  /**
   * Writes every count taken so far, of every attached registration, in one statement; waits for
   * a write in progress first. A failure keeps the rows for the next flush (up to the bound).
   */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
    this.writing = this.write().finally(() => (this.writing = null));
    await this.writing;
    this.schedule();
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.tallies.size === 0) return;
    let delay = Infinity;
    for (const [tally, settings] of this.tallies)
      // Every hour boundary is a flush too, so each count lands in the hour it was made in.
      delay = Math.min(delay, settings.flushInterval, tally.untilNextHour() + 1);
    this.timer = setTimeout(
      () => {
        this.timer = null;
        void this.flush();
      },
      Math.min(delay, MAX_TIMER_DELAY),
    ).unref();
  }

  private async write(): Promise<void> {
    const rows = new Map(this.unwritten);
    this.unwritten = new Map();
    let bound = 0;
    for (const tally of this.tallies.keys()) {
      bound = Math.max(bound, tally.maxPendingKeys);
      const { batch, dropped } = tally.take();
      this.dropped += dropped;
      if (batch) for (const row of batchRows(batch)) mergeRow(rows, row);
    }
    if (this.dropped > 0)
      this.reportDropped('because more keys were used between two writes than maxPendingKeys');
    if (rows.size > 0) {
      const timeout = Math.min(...[...this.tallies.values()].map((s) => s.storeTimeout));
      try {
        await withinStoreTimeout(
          this.run(upsertStatement(this.dialect, [...rows.values()])),
          timeout,
        );
      } catch (error) {
        this.keepForRetry(rows, bound, error);
        return;
      }
      // Only a writer that writes prunes: an instance that counts nothing leaves the table alone.
      await this.pruneWhenDue();
    }
  }

  /** Keeps the rows of a failed write for the next flush, at most `bound` of them. */
  private keepForRetry(rows: Map<string, UsageRow>, bound: number, error: unknown): void {
    let lost = 0;
    for (const [key, row] of rows) {
      if (this.unwritten.has(key) || this.unwritten.size < bound)
        mergeRow(this.unwritten, row, key);
      else lost += row.requests;
    }
    this.logger.warn(
      `Could not write API key usage counts (${this.unwritten.size} rows kept for the next write): ${(error as Error)?.message ?? String(error)}`,
    );
    if (lost > 0) {
      this.dropped += lost;
      this.reportDropped(`beyond the ${bound} rows kept while the store is unavailable`);
    }
  }

  /** The one line saying how many requests went uncounted, and why. */
  private reportDropped(why: string): void {
    this.logger.error(`Dropped the usage counts of ${this.dropped} API key request(s) ${why}.`);
    this.dropped = 0;
  }

  /** Deletes, at most once an hour, each registration's counts older than its retention. */
  private async pruneWhenDue(): Promise<void> {
    const now = Date.now();
    if (now - this.lastPrune < PRUNE_EVERY_MS) return;
    this.lastPrune = now;
    for (const [tally, settings] of this.tallies) {
      const oldest = tally.hourNow() - settings.retentionDays * 24;
      try {
        await withinStoreTimeout(
          this.run(pruneStatement(this.dialect, tally.registration, oldest)),
          settings.storeTimeout,
        );
      } catch (error) {
        this.lastPrune = -Infinity; // try again at the next flush
        this.logger.warn(
          `Could not prune API key usage counts: ${(error as Error)?.message ?? String(error)}`,
        );
        return;
      }
    }
  }
}

/** Adds `row` to the row of the same registration, key, hour and outcome in `rows`. */
function mergeRow(rows: Map<string, UsageRow>, row: UsageRow, key = rowKey(row)): void {
  const existing = rows.get(key);
  if (existing) existing.requests += row.requests;
  else rows.set(key, { ...row });
}

function rowKey(row: UsageRow): string {
  return `${row.registration}\u0000${row.keyId}\u0000${row.hour}\u0000${row.outcome}`;
}
