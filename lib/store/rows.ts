import { randomUUID } from 'node:crypto';
import type { FindOptionsWhere, Repository } from 'typeorm';
import type { EntityMetadata } from 'typeorm';
import type { AbstractApiKey } from '../api-key.entity.js';
import { ApiKeyValidationError } from '../api-key.errors.js';
import { generateKey, isPrefix } from '../keys/format.js';
import { secretTagOfKey } from '../keys/secret-tag.js';
import type { ValidCreateInput } from './input.js';
import type { CreatedApiKey } from '../api-key.interfaces.js';
import type { ResolvedApiKeyOptions } from '../api-key.options.js';
import { withinStoreTimeout } from './deadline.js';
import {
  columnNamedBy,
  isForeignKeyViolation,
  isRowRejected,
  storeUnavailable,
  type ThrottledErrorLog,
} from './errors.js';

/**
 * The `ApiKeyService`'s reads and writes of key rows (verification's reads excepted): each
 * bounded by `storeTimeout`, and a failure or no answer in time an outage
 * (`ApiKeyStoreUnavailableError`), never a pass.
 */
export class ApiKeyRows<T extends AbstractApiKey> {
  constructor(
    private readonly repository: Repository<T>,
    private readonly options: ResolvedApiKeyOptions<T>,
    private readonly storeErrors: ThrottledErrorLog,
  ) {}

  /**
   * Runs a database operation within `storeTimeout`.
   *
   * @param action what it does, for the outage's message, e.g. `revoke an API key`
   * @throws {ApiKeyStoreUnavailableError} if it fails or does not answer in time
   */
  async run<R>(action: string, operation: () => Promise<R>): Promise<R> {
    try {
      return await withinStoreTimeout(operation(), this.options.storeTimeout);
    } catch (error) {
      throw storeUnavailable(this.storeErrors, action, error);
    }
  }

  /**
   * One key by id or prefix, without its hash, or `null` (also for a value neither could be).
   *
   * @param withRelationIds load owner relations as their ids
   * @throws {ApiKeyStoreUnavailableError} if the database cannot be reached
   */
  findOne(idOrPrefix: string, withRelationIds: boolean): Promise<T | null> {
    if (typeof idOrPrefix !== 'string' || idOrPrefix.length === 0 || idOrPrefix.length > 64)
      return Promise.resolve(null);
    const where = (
      isPrefix(idOrPrefix) ? { prefix: idOrPrefix } : { id: idOrPrefix }
    ) as FindOptionsWhere<T>;
    return this.run('read an API key', () =>
      this.repository.findOne({ where, loadRelationIds: withRelationIds || undefined }),
    );
  }

  /**
   * Makes a key from checked input and stores its hash, with a new prefix if the first is taken.
   * The returned `key` is the only copy of the plaintext.
   *
   * @param now the creation time
   * @throws {ApiKeyValidationError} if the database refuses the row (a missing owner, say)
   * @throws {ApiKeyStoreUnavailableError} if the database cannot be written
   */
  async insertNew(
    { name, expiresAt, scopes, extra }: ValidCreateInput,
    now: Date,
  ): Promise<CreatedApiKey<T>> {
    for (let attempt = 1; ; attempt++) {
      const { key, prefix } = generateKey(this.options.brand, this.options.keyFormat);
      const hashedKey = await this.options.hasher.hash(key);
      const apiKey = this.repository.create({
        ...extra,
        id: randomUUID(),
        prefix,
        hashedKey,
        secretTag: secretTagOfKey(key, hashedKey),
        name,
        scopes: [...new Set(scopes)],
        createdAt: now,
        expiresAt,
        revokedAt: null,
        lastUsedAt: null,
      } as unknown as T);
      try {
        await withinStoreTimeout(this.repository.insert(apiKey as any), this.options.storeTimeout);
      } catch (error) {
        // 62^8 prefixes make a clash very unlikely, but the unique index is the arbiter: retry on one.
        if (attempt < 3 && (await this.prefixTaken(prefix))) continue;
        // A constraint the row breaks (a missing owner, say) is the caller's to fix, not an outage.
        if (isRowRejected(error)) throw this.rowRejected(error, extra);
        throw storeUnavailable(this.storeErrors, 'create an API key', error);
      }
      delete (apiKey as Partial<T>).hashedKey;
      delete (apiKey as Partial<T>).secretTag;
      return { apiKey, key };
    }
  }

  /**
   * The error of a new row the database refused, naming the field at fault where it can be told
   * and never quoting the driver in its message: the driver's error (table, constraint and column
   * names, values) is its `cause`, for the caller's server log.
   *
   * @param given the entity's further columns the caller gave, the likeliest at fault
   */
  private rowRejected(error: unknown, given: Record<string, unknown>): ApiKeyValidationError {
    const metadata = this.repository.metadata;
    if (isForeignKeyViolation(error)) {
      const foreignKeys = metadata.foreignKeys.filter((key) =>
        key.columns.some((column) => isGiven(column, given)),
      );
      const named = columnNamedBy(
        error,
        foreignKeys.flatMap((key) => key.columns.map((column) => column.databaseName)),
      );
      const key =
        foreignKeys.find((k) => k.columns.some((c) => c.databaseName === named)) ?? foreignKeys[0];
      const field = key?.columns[0]?.propertyName;
      return new ApiKeyValidationError(
        `The key could not be stored: ${field ?? 'a reference'} names no existing ${key?.referencedEntityMetadata.name ?? 'row'}.`,
        field,
        { cause: error },
      );
    }
    const column = metadata.columns.find(
      (c) =>
        c.databaseName ===
        columnNamedBy(
          error,
          metadata.columns.map((c) => c.databaseName),
        ),
    );
    return new ApiKeyValidationError(
      `The key could not be stored: the database refused ${column ? `the value of ${column.propertyName}` : 'one of its values'}.`,
      column?.propertyName,
      { cause: error },
    );
  }

  /** Whether a row holds `prefix`; `false` when that cannot be told either. */
  private prefixTaken(prefix: string): Promise<boolean> {
    return withinStoreTimeout(
      this.repository.existsBy({ prefix } as FindOptionsWhere<T>),
      this.options.storeTimeout,
    ).catch(() => false);
  }
}

/** Whether the caller gave a value for `column`, by its property or the relation it joins. */
function isGiven(
  column: EntityMetadata['columns'][number],
  given: Record<string, unknown>,
): boolean {
  return (
    given[column.propertyName] !== undefined ||
    (column.relationMetadata !== undefined &&
      given[column.relationMetadata.propertyName] !== undefined)
  );
}
