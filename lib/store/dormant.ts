import {
  And,
  Equal,
  InstanceChecker,
  IsNull,
  LessThan,
  type FindOperator,
  type FindOptionsWhere,
  type Repository,
} from 'typeorm';
import type { AbstractApiKey } from '../api-key.entity.js';
import { ApiKeyValidationError } from '../api-key.errors.js';
import {
  API_KEY_REVOKED_EVENT,
  deliverEvent,
  revokedEvent,
  type ApiKeyEventBus,
  type ApiKeyRevokedEvent,
} from '../api-key.events.js';
import { ownColumns } from './input.js';
import type { ResolvedApiKeyOptions } from '../api-key.options.js';
import type { ApiKeyRows } from './rows.js';
import { listWhere } from './where.js';

/**
 * Which keys `findDormant()` looks for.
 *
 * @publicApi
 */
export interface FindDormantApiKeysOptions<T extends AbstractApiKey = AbstractApiKey> {
  /**
   * Milliseconds a key must have gone unused: last used (or, never used, created) longer ago
   * than this. Make it far longer than `usageTracking.interval`, which delays the marks.
   */
  unusedFor: number;
  /** Only among the keys this TypeORM `where` selects, e.g. `{ partnerId }`. Default: all. */
  where?: FindOptionsWhere<T>;
}

/**
 * What `revokeDormant()` revokes, and whom it tells.
 *
 * @publicApi
 */
export interface RevokeDormantApiKeysOptions<
  T extends AbstractApiKey = AbstractApiKey,
> extends FindDormantApiKeysOptions<T> {
  /** Only say which keys would be revoked; change nothing and emit nothing. Default `false`. */
  dryRun?: boolean;
  /** Called for each key revoked, besides the `api-key.revoked` event on `@nestjs/event-emitter`'s bus. */
  onRevoked?: (event: ApiKeyRevokedEvent) => void | Promise<void>;
}

/**
 * The outcome of `revokeDormant()`.
 *
 * @publicApi
 */
export interface DormantApiKeyRevocation<T extends AbstractApiKey = AbstractApiKey> {
  /** The keys revoked, as they are now; with `dryRun`, those that would be, unchanged. */
  keys: T[];
  dryRun: boolean;
  /** Keys last used (or, never used, created) before this instant counted as dormant. */
  cutoff: Date;
}

/** What the dormant-key queries need of the service. */
export interface ApiKeyDormancyContext<T extends AbstractApiKey> {
  repository: Repository<T>;
  options: ResolvedApiKeyOptions<T>;
  rows: ApiKeyRows<T>;
  /** Writes this process's pending `lastUsedAt` marks, so a key just used is not taken for dormant. */
  flushUsage(): Promise<void>;
  /** Drops what this process remembers of a revoked key. */
  forget(apiKey: T): void;
  /** The app's event bus, if it has one. */
  eventBus(): Promise<ApiKeyEventBus | null>;
}

/**
 * Finds and revokes keys that have gone unused for a while, judged by `lastUsedAt`, or by
 * `createdAt` for keys never used. Only usable keys count: revoked and expired ones are done.
 */
export class ApiKeyDormancy<T extends AbstractApiKey> {
  constructor(private readonly context: ApiKeyDormancyContext<T>) {}

  /**
   * The usable keys unused for `unusedFor`, least recently created first.
   *
   * @throws {ApiKeyValidationError} for an `unusedFor` that is not a positive number of ms, a bad
   *   `where`, or a registration that does not record `lastUsedAt`
   * @throws {ApiKeyStoreUnavailableError} if the database cannot be reached
   */
  async find(options: FindDormantApiKeysOptions<T>): Promise<T[]> {
    return (await this.search(options)).keys;
  }

  /**
   * Revokes the usable keys unused for `unusedFor` (or, with `dryRun`, only finds them), and
   * emits a `revoked` event with reason `dormant` for each. A key used between finding and
   * revoking is left alone: the revocation re-checks that it is still dormant.
   *
   * @throws {ApiKeyValidationError} as `find()` does
   * @throws {ApiKeyStoreUnavailableError} if the database cannot be reached
   */
  async revoke(options: RevokeDormantApiKeysOptions<T>): Promise<DormantApiKeyRevocation<T>> {
    const dryRun = options.dryRun === true;
    const { keys: found, cutoff } = await this.search(options);
    if (dryRun) return { keys: found, dryRun, cutoff };
    const { repository, rows, options: service } = this.context;
    const bus = found.length > 0 ? await this.context.eventBus() : null;
    const revoked: T[] = [];
    for (const apiKey of found) {
      const at = service.clock();
      const where = this.dormantWhere(undefined, at, cutoff).map((branch) => ({
        ...branch,
        id: apiKey.id,
      }));
      const result = await rows.run('revoke a dormant API key', () =>
        repository.update(where, { revokedAt: at } as any),
      );
      this.context.forget(apiKey);
      if (result.affected === 0) continue; // used, revoked or expired meanwhile
      apiKey.revokedAt = at;
      revoked.push(apiKey);
      const event = revokedEvent(
        apiKey,
        { registration: service.name, reason: 'dormant', at },
        ownColumns(repository.metadata, apiKey),
      );
      await deliverEvent(bus, API_KEY_REVOKED_EVENT, event, options.onRevoked);
    }
    return { keys: revoked, dryRun, cutoff };
  }

  /** The dormant keys and the cutoff they were judged by. @throws as `find()` does */
  private async search(
    options: FindDormantApiKeysOptions<T>,
  ): Promise<{ keys: T[]; cutoff: Date }> {
    const { now, cutoff } = this.cutoff(options);
    const where = this.dormantWhere(options.where, now, cutoff);
    await this.context.flushUsage();
    const keys = await this.context.rows.run('find dormant API keys', () =>
      this.context.repository.find({
        where,
        order: { createdAt: 'ASC', id: 'ASC' } as any,
        loadRelationIds: true,
      }),
    );
    return { keys, cutoff };
  }

  /** @throws {ApiKeyValidationError} for a bad `unusedFor` or a registration without usage tracking */
  private cutoff(options: FindDormantApiKeysOptions<T>): { now: Date; cutoff: Date } {
    const { unusedFor } = options ?? {};
    if (typeof unusedFor !== 'number' || !Number.isFinite(unusedFor) || unusedFor <= 0)
      throw new ApiKeyValidationError(
        `unusedFor must be a positive number of milliseconds, got ${String(unusedFor)}.`,
        'unusedFor',
      );
    if (this.context.options.usageTracking === false)
      throw new ApiKeyValidationError(
        'Dormant keys are judged by lastUsedAt, which this registration does not record (usageTracking: false): turn usage tracking on and wait longer than unusedFor first.',
        'unusedFor',
      );
    const now = this.context.options.clock();
    return { now, cutoff: new Date(now.getTime() - unusedFor) };
  }

  /** Usable keys `where` selects, last used before `cutoff` or never used and created before it. */
  private dormantWhere(
    where: FindOptionsWhere<T> | undefined,
    now: Date,
    cutoff: Date,
  ): FindOptionsWhere<T>[] {
    const { metadata } = this.context.repository;
    const active = listWhere(metadata, { where, activeOnly: true }, now) as Record<
      string,
      unknown
    >[];
    const before = LessThan(cutoff);
    return active.flatMap((branch) => [
      { ...branch, lastUsedAt: both(branch.lastUsedAt, before) },
      { ...branch, lastUsedAt: IsNull(), createdAt: both(branch.createdAt, before) },
    ]) as FindOptionsWhere<T>[];
  }
}

/** `condition`, ANDed with the caller's own condition on the same column, if any. */
function both(own: unknown, condition: FindOperator<unknown>): FindOperator<unknown> {
  if (own === undefined) return condition;
  return And(InstanceChecker.isFindOperator(own) ? own : Equal(own), condition);
}
