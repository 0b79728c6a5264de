/**
 * Usage analytics of one registration, as its `ApiKeyService` uses it: the tally the guard
 * counts into, the shared writer of its data source, and the reads of `usage()`.
 */
import { Logger } from '@nestjs/common';
import type { DataSource, Repository } from 'typeorm';
import type { AbstractApiKey } from '../api-key.entity.js';
import { ApiKeyValidationError } from '../api-key.errors.js';
import type { ResolvedApiKeyOptions } from '../api-key.options.js';
import { withinStoreTimeout } from '../store/deadline.js';
import type { ApiKeyUsageOutcome } from './outcomes.js';
import {
  foldByKey,
  foldSeries,
  usageSpan,
  type ApiKeyUsageQuery,
  type UsageSpan,
} from './report.js';
import {
  byKeyStatement,
  seriesStatement,
  usageDialect,
  type Statement,
  type SummedRow,
  type UsageDialect,
} from './sql.js';
import { UsageTally } from './tally.js';
import { usageWriterOf, type UsageWriter } from './writer.js';

/**
 * The counting and reading of one registration's usage. Made by the service when
 * `usageAnalytics` is on and the data source is PostgreSQL, MariaDB/MySQL or SQLite.
 */
export class UsageAnalytics {
  /** The analytics of each key entity's registration, for integrations that hold only a key. */
  private static readonly byEntity = new WeakMap<object, UsageAnalytics>();
  readonly tally: UsageTally;
  private readonly writer: UsageWriter;

  private constructor(
    private readonly dataSource: DataSource,
    private readonly dialect: UsageDialect,
    private readonly options: ResolvedApiKeyOptions<AbstractApiKey> & {
      usageAnalytics: Exclude<ResolvedApiKeyOptions['usageAnalytics'], false>;
    },
  ) {
    const settings = options.usageAnalytics;
    this.tally = new UsageTally({
      registration: options.name,
      maxPendingKeys: settings.maxPendingKeys,
      clock: options.clock,
    });
    UsageAnalytics.byEntity.set(options.entity, this);
    this.writer = usageWriterOf(dataSource, dialect);
    this.writer.attach(this.tally, {
      flushInterval: settings.flushInterval,
      retentionDays: settings.retentionDays,
      storeTimeout: options.storeTimeout,
    });
  }

  /**
   * Usage analytics for a registration, or `null` when it is off, or its repository has no data
   * source of a supported driver (a test double, say; a real unsupported one is logged once).
   */
  static create<T extends AbstractApiKey>(
    options: ResolvedApiKeyOptions<T>,
    repository: Repository<T>,
  ): UsageAnalytics | null {
    const dataSource = repository?.manager?.connection;
    if (options.usageAnalytics === false || !dataSource?.driver?.options) return null;
    const dialect = usageDialect(dataSource);
    if (dialect === null) {
      new Logger('ApiKeyUsage').warn(
        `Usage analytics is not available on ${dataSource.driver.options.type}; set usageAnalytics: false to silence this.`,
      );
      return null;
    }
    return new UsageAnalytics(dataSource, dialect, options as any);
  }

  /**
   * Counts a request the key guard let in (`ok`) as refused by a later guard instead (the
   * throttler's `rate_limited`), in the registration of the key's entity, if it counts usage.
   */
  static refusedAfterGuard(apiKey: AbstractApiKey, outcome: ApiKeyUsageOutcome): void {
    UsageAnalytics.byEntity.get(apiKey.constructor)?.tally.recount(apiKey.id, 'ok', outcome);
  }

  /**
   * `analytics`, when usage analytics is on for the registration.
   *
   * @throws {ApiKeyValidationError} naming `method`, when it is off
   */
  static require(analytics: UsageAnalytics | null, registration: string, method: string) {
    if (analytics) return analytics;
    throw new ApiKeyValidationError(
      `${method}() needs usage analytics, which is off for registration "${registration}" (usageAnalytics: false, or a database it does not support).`,
    );
  }

  /**
   * Counts one request (see `ApiKeyService.recordOutcome`). A refusal naming no row with the
   * prefix of a key this process counted lately (a checksummed key with a wrong secret, refused
   * unread) counts against that key as `unauthorized`, and returns `'wrong_secret'`.
   */
  record(
    outcome: ApiKeyUsageOutcome,
    keyId: string | null,
    prefix: string | undefined,
  ): 'wrong_secret' | undefined {
    const known = keyId ?? (prefix === undefined ? undefined : this.tally.keyIdOf(prefix));
    if (keyId !== null) this.tally.count(keyId, outcome, prefix);
    else if (known === undefined) this.tally.count('', 'unknown');
    else {
      this.tally.count(known, 'unauthorized');
      return 'wrong_secret';
    }
    return undefined;
  }

  /** Writes every pending count of this data source now. */
  flush(): Promise<void> {
    return this.writer.flush();
  }

  /** Writes what this registration counted and stops counting it into the writer. */
  close(): Promise<void> {
    return this.writer.detach(this.tally);
  }

  /**
   * The series and totals of a query, for one key id or the registration.
   *
   * @throws {ApiKeyValidationError} for a bad query (see `usageSpan`)
   * @throws what the driver throws, or a timeout error past `storeTimeout`
   */
  async series(query: ApiKeyUsageQuery, keyId: string | undefined) {
    const span = usageSpan(query);
    const rows = await this.read(seriesStatement(this.dialect, this.selection(span, keyId)));
    return { granularity: query.granularity, ...foldSeries(rows, span) };
  }

  /**
   * Every key's counts over a span, busiest first, at most `limit` keys (default 10).
   *
   * @throws as `series()`, and for a `limit` not from 1 to 1000
   */
  async byKey(query: Pick<ApiKeyUsageQuery, 'since' | 'until'> & { limit?: number }) {
    const span = usageSpan({ ...query, granularity: 'hour' });
    const limit = query.limit ?? 10;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
      throw new ApiKeyValidationError(
        'busiestKeys(): limit must be a whole number from 1 to 1000.',
      );
    const rows = await this.read(byKeyStatement(this.dialect, this.selection(span, undefined)));
    return foldByKey(rows, limit);
  }

  private selection(span: UsageSpan, keyId: string | undefined) {
    return { registration: this.options.name, from: span.from, to: span.to, keyId };
  }

  private async read(statement: Statement): Promise<SummedRow[]> {
    await this.flush();
    return withinStoreTimeout(
      this.dataSource.query(statement.sql, statement.parameters) as Promise<SummedRow[]>,
      this.options.storeTimeout,
    );
  }
}
