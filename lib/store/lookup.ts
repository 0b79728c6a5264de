import { Logger } from '@nestjs/common';
import type { FindOperator, FindOptionsWhere, Repository, SelectQueryBuilder } from 'typeorm';
import {
  compilePrefixLookup,
  type CompiledLookup,
  type LookupQueryBuilder,
} from './compiled/lookup.js';
import { AbandonableRead } from './compiled/runners.js';
import type { AbstractApiKey } from '../api-key.entity.js';
import { ApiKeyStoreTimeoutError, DEFAULT_STORE_TIMEOUT, withinStoreTimeout } from './deadline.js';

/** Most prefixes read by one statement; more at once are read in several. */
const MAX_BATCH = 50;

/** A key row as the guard needs it: the entity, and its stored hash kept off the entity. */
export interface StoredApiKeyRow<T> {
  /** The key's entity, as `getOne()` hydrates it but without `hashedKey`. */
  row: T;
  /** The stored hash of the key's secret, for the memo or the hasher to check against. */
  hashedKey: string;
  /**
   * The key's secret tag, checked before the slow hash; `null` (or absent, from an override of
   * `loadByPrefix` written before tags) when the row has none.
   */
  secretTag?: string | null;
}

/** A prefix with a read pending or out, and the callers waiting for its next read. */
interface Waiting {
  prefix: string;
  waiters: Waiter[];
  /** When the first of `waiters` came (`Date.now()`): the next read must answer it by `storeTimeout` after. */
  since: number;
}

interface Waiter {
  resolve: (stored: StoredApiKeyRow<any> | null) => void;
  reject: (error: unknown) => void;
}

/**
 * Reads a key row, with its hash, by prefix: the guard's one database read per request.
 *
 * The SELECT is the one TypeORM's query builder makes for `{ ...usableWhere, prefix }` (with
 * its joins and soft-delete condition), but it is built once, not per request, and run with
 * the prefixes as its only varying bound parameters: on better-sqlite3 through prepared
 * statements, on PostgreSQL straight through the data source's pool as named prepared
 * statements, elsewhere through a query runner. Rows are hydrated by TypeORM's own
 * transformer, so dates, simple-json and booleans come back as `getOne()` gives them. A setup
 * the compiled form cannot reproduce exactly (query result cache, `@RelationId` properties,
 * the `query` relation strategy) keeps using `getOne()`, and so does a TypeORM release without
 * the internals the compiled form relies on (see `api-key.compiled-lookup.ts`), after one
 * warning.
 *
 * Reads are shared, but a request is never answered by a read that began before it arrived.
 * Reads start at the end of the event-loop turn after the one in which their first request
 * came: the prefixes asked for in those two turns are read by one `prefix IN (...)` statement,
 * and every request for one of them that came before it started is answered by it. Requests
 * that come while a read of their prefix is out wait for the next one. So a row changed before
 * a request came is always seen by it (a revocation applies to the next request), while the
 * database sees one query every other turn rather than one per request. Each caller gets its
 * own entity.
 *
 * No caller waits on the store longer than `storeTimeout`. A shared read carries one timer, set
 * for `storeTimeout` after the arrival of its earliest caller; when it fires, the read's callers
 * are refused with an `ApiKeyStoreTimeoutError` and the read is abandoned: its late answer, if
 * one ever comes, answers no one. Callers that came while it was out get a read of their own,
 * bounded from their own arrival, so a stalled read is never joined past anyone's deadline.
 * On PostgreSQL an abandoned read's connection is released as broken, so the pool drops a
 * stalled connection instead of lending it out again.
 */
export class ApiKeyPrefixLookup<T extends AbstractApiKey> {
  /** The compiled lookup, `null` for the query builder, `undefined` until compiled. */
  private compiled: CompiledLookup | null | undefined;
  private compiling: Promise<CompiledLookup | null> | undefined;
  /** Prefixes with a read pending or out. */
  private readonly reads = new Map<string, Waiting>();
  /** Prefixes to read at the end of the next turn. */
  private starting: Waiting[] = [];

  /**
   * @param storeTimeout milliseconds a caller may wait on the database before it is refused
   */
  constructor(
    private readonly repository: Repository<T>,
    private readonly usableWhere: FindOptionsWhere<T> | null,
    private readonly storeTimeout: number = DEFAULT_STORE_TIMEOUT,
  ) {}

  /**
   * The row whose prefix is `prefix` and that meets `usableWhere`, or `null`; its stored hash
   * and secret tag come beside it, never on the entity, so nothing that logs or serialises the
   * entity can carry them. The compiled read never puts them on the entity; the query builder
   * does, and they are deleted from there.
   *
   * @throws whatever the driver throws when the database cannot be read
   * @throws {ApiKeyStoreTimeoutError} when the database did not answer within `storeTimeout`
   * @throws what the query builder throws for a `usableWhere` naming what the entity lacks
   */
  async find(prefix: string): Promise<StoredApiKeyRow<T> | null> {
    const compiled = this.compiled === undefined ? await this.compile() : this.compiled;
    if (compiled === null) {
      const row = await withinStoreTimeout(this.queryBuilder(prefix).getOne(), this.storeTimeout);
      if (row === null) return null;
      const { hashedKey, secretTag = null } = row;
      // The slower path pays for the deletes; neither may stay on the entity.
      delete (row as Partial<T>).hashedKey;
      delete (row as Partial<T>).secretTag;
      return { row, hashedKey, secretTag };
    }
    const stored = await this.sharedRead(prefix);
    if (stored !== null && compiled.afterLoad) await compiled.afterLoad([stored.row]);
    return stored;
  }

  /**
   * Joins the read of `prefix` that has not started yet, or asks for one at the end of this
   * turn of the event loop; while a read is out, callers wait for the one after it.
   */
  private sharedRead(prefix: string): Promise<StoredApiKeyRow<T> | null> {
    return new Promise((resolve, reject) => {
      let state = this.reads.get(prefix);
      if (state === undefined) {
        state = { prefix, waiters: [], since: 0 };
        this.reads.set(prefix, state);
        this.schedule(state);
      }
      // One clock read per read, not per caller: the first caller is the one with the least time left.
      if (state.waiters.length === 0) state.since = Date.now();
      state.waiters.push({ resolve, reject });
    });
  }

  private schedule(state: Waiting): void {
    this.starting.push(state);
    // One deferral whatever the number of keys: past the I/O callbacks of this turn and of the
    // next, so requests read off the sockets in either share the read. Under load the second
    // turn is busy with other requests anyway, and it cuts the reads markedly; idle, it costs
    // one empty turn of the loop.
    if (this.starting.length === 1) setImmediate(this.nextTurn);
  }

  private readonly nextTurn = (): void => {
    setImmediate(this.startReads);
  };

  private readonly startReads = (): void => {
    const starting = this.starting;
    this.starting = [];
    for (let i = 0; i < starting.length; i += MAX_BATCH)
      this.readBatch(this.compiled!, starting.slice(i, i + MAX_BATCH));
  };

  private readBatch(compiled: CompiledLookup, batch: Waiting[]): void {
    let since = Infinity;
    const waiters = batch.map((state) => {
      since = Math.min(since, state.since);
      const answered = state.waiters;
      state.waiters = [];
      return answered;
    });
    let out = true;
    /** Answers the batch's callers once: by the read, or by its deadline, whichever comes first. */
    const settle = (answer: () => void) => {
      if (!out) return;
      out = false;
      clearTimeout(deadline);
      answer();
      for (const state of batch) {
        // Callers that came while the read was out may not be answered by it: they get the next one.
        if (state.waiters.length > 0) this.schedule(state);
        else this.reads.delete(state.prefix);
      }
    };
    const refuse = (error: unknown) => () => rejectAll(waiters, error);
    const read = new AbandonableRead();
    const timeLeft = Math.max(0, since + this.storeTimeout - Date.now());
    const deadline = setTimeout(() => {
      settle(refuse(new ApiKeyStoreTimeoutError(this.storeTimeout)));
      read.abandon();
    }, timeLeft);
    this.startRead(compiled, batch, read).then(
      (rows) => settle(() => this.answer(compiled, batch, waiters, rows)),
      (error) => settle(refuse(error)),
    );
  }

  /** Runs the statement reading every prefix of `batch`. */
  private startRead(
    compiled: CompiledLookup,
    batch: Waiting[],
    read: AbandonableRead,
  ): Promise<any[]> {
    try {
      const statement = compiled.statementFor(batch.length);
      const parameters = statement.parameters.slice();
      batch.forEach((state, i) => (parameters[statement.prefixIndexes[i]] = state.prefix));
      return compiled.run(statement.sql, parameters, read);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Hands each caller of the batch its own entity of its prefix's row, hydrated once per read. */
  private answer(compiled: CompiledLookup, batch: Waiting[], waiters: Waiter[][], rows: any[]) {
    if (rows.length > 0 && compiled.prefixOf(rows[0]) === undefined) {
      // Failing loudly beats answering "unknown key" for every key.
      rejectAll(waiters, new Error('The key lookup returned rows without their prefix column.'));
      return;
    }
    // Taken off every row first: with case-folding collations one row may answer two prefixes.
    const hashes = rows.map((row) => compiled.hashOf(row));
    const tags = rows.map((row) => compiled.tagOf(row));
    batch.forEach((state, i) => {
      const own: any[] = [];
      let hashedKey = '';
      let secretTag: string | null = null;
      rows.forEach((row, r) => {
        if (!this.belongsTo(compiled, row, state.prefix)) return;
        if (own.length === 0) [hashedKey, secretTag] = [hashes[r], tags[r]];
        own.push(row);
      });
      let first: T | undefined;
      for (const waiter of waiters[i]) {
        const row = first === undefined ? undefined : (compiled.copyEntity?.(first) as T | null);
        const entity = row ?? this.hydrate(compiled, own, first === undefined);
        first ??= entity;
        waiter.resolve(entity === undefined ? null : { row: entity, hashedKey, secretTag });
      }
    });
  }

  /** Hydrates a prefix's rows into its entity, from copies of them unless this is their first use. */
  private hydrate(compiled: CompiledLookup, own: any[], firstUse: boolean): T | undefined {
    if (own.length === 0) return undefined;
    // Drivers hand out Date objects, and one row may answer two prefixes: hydrate a copy.
    return compiled.toEntities(firstUse && !compiled.foldsCase ? own : copyRows(own))[0] as T;
  }

  /** Whether a row is the database's answer for `prefix`, as `prefix = ?` would have matched it. */
  private belongsTo(compiled: CompiledLookup, row: any, prefix: string): boolean {
    const value = compiled.prefixOf(row);
    if (value === prefix) return true;
    // Prefixes are ASCII letters and digits, so lower-casing is what a case-insensitive collation compares.
    return (
      compiled.foldsCase &&
      typeof value === 'string' &&
      value.toLowerCase() === prefix.toLowerCase()
    );
  }

  /** The lookup's SELECT, as TypeORM's query builder makes it for `{ ...usableWhere, prefix }`. */
  private readonly queryBuilder: LookupQueryBuilder<T> = (
    prefix: string | FindOperator<string>,
  ): SelectQueryBuilder<T> =>
    this.repository
      .createQueryBuilder('api_key')
      .setFindOptions({ where: { ...(this.usableWhere ?? {}), prefix } as FindOptionsWhere<T> })
      .addSelect('api_key.hashedKey')
      .addSelect('api_key.secretTag');

  /**
   * Compiles the lookup once, on first use, when the data source is connected and its driver
   * known; says once, as a warning, when TypeORM lacks what the compiled form needs.
   *
   * @throws what the query builder throws for `usableWhere`; the next call tries again
   */
  private compile(): Promise<CompiledLookup | null> {
    this.compiling ??= compilePrefixLookup(
      this.repository.manager.dataSource,
      this.queryBuilder,
    ).then(
      ({ lookup, missing }) => {
        if (missing !== null)
          new Logger('ApiKeyPrefixLookup').warn(
            `Key lookups go through TypeORM's query builder: the compiled lookup needs TypeORM internals this release does not have (${missing}). Lookups stay correct, only slower.`,
          );
        this.compiled = lookup;
        return lookup;
      },
      (error: unknown) => {
        this.compiling = undefined;
        throw error;
      },
    );
    return this.compiling;
  }
}

function rejectAll(waiters: Waiter[][], error: unknown): void {
  for (const answered of waiters) for (const waiter of answered) waiter.reject(error);
}

/** Rows for one more caller of a shared read, with their own `Date` objects. */
function copyRows(rows: any[]): any[] {
  return rows.map((row) => {
    const copy = { ...row };
    for (const column in copy)
      if (copy[column] instanceof Date) copy[column] = new Date(copy[column].getTime());
    return copy;
  });
}
