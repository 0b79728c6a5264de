import {
  ConflictException,
  HttpException,
  ForbiddenException,
  Inject,
  Injectable,
  Logger,
  NotFoundException,
  ServiceUnavailableException,
  type OnModuleInit,
} from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { Repository } from 'typeorm';
import { getApiKeyRepositoryToken } from '../api-key.constants.js';
import type { AbstractApiKey } from '../api-key.entity.js';
import { ApiKeyValidationError } from '../api-key.errors.js';
import { isPrefix } from '../keys/format.js';
import { ThrottledErrorLog } from '../store/errors.js';
import type { CreateApiKeyInput, UpdateApiKeyInput } from '../api-key.interfaces.js';
import { ApiKeyService, getApiKeyServiceToken } from '../api-key.service.js';
import { ApiKeyAdminBadRequest } from './admin.errors.js';
import { ApiKeyAdminEvents } from './admin.events.js';
import { bodyOf, ownerFields, parseGracePeriod, parseIds, parseKeyFields } from './admin.input.js';
import {
  API_KEY_ADMIN_OPTIONS,
  ApiKeyAdminConfigurationError,
  type ResolvedApiKeyAdminOptions,
} from './admin.options.js';
import { OwnerKeyPolicy } from './admin.policy.js';
import { applyListQuery, keysQuery, parseListQuery, whereActive } from './admin.query.js';
import { presentKey, type ApiKeyAdminView, type ApiKeyList } from './admin.view.js';
import { busiestKeys, keyUsage } from './admin.usage.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Who asks: the owner they are confined to (`null` in admin mode) and the actor for events. */
export interface AdminScope {
  owner: string | null;
  actor: string | null;
}

/**
 * The management API's operations on one registration's keys, confined to the request's owner
 * in owner-scoped mode, with audit events. Answers in HTTP exceptions: 400 naming the field,
 * 404 for a key that does not exist or belongs to another owner, 409 for a read-only key.
 */
@Injectable()
export class ApiKeyAdminKeys implements OnModuleInit {
  private service!: ApiKeyService<AbstractApiKey>;
  private repository!: Repository<AbstractApiKey>;
  private readonly policy: OwnerKeyPolicy;
  private readonly logger = new Logger('ApiKeyAdmin');
  /** Refused rows' driver messages, at most one line per cause every 10 s. */
  private readonly refusals = new ThrottledErrorLog({ error: (line) => this.logger.warn(line) });

  constructor(
    @Inject(API_KEY_ADMIN_OPTIONS) private readonly options: ResolvedApiKeyAdminOptions,
    private readonly moduleRef: ModuleRef,
    private readonly events: ApiKeyAdminEvents,
  ) {
    this.policy = new OwnerKeyPolicy(options.ownerPolicy);
  }

  /**
   * Finds the registration's service and repository, and checks `ownerColumn` against its entity.
   *
   * @throws {ApiKeyAdminConfigurationError} naming the fix when either is missing
   */
  onModuleInit(): void {
    const { registration, ownerColumn } = this.options;
    try {
      this.service = this.moduleRef.get(getApiKeyServiceToken(registration), { strict: false });
      this.repository = this.moduleRef.get(getApiKeyRepositoryToken(registration), {
        strict: false,
      });
    } catch {
      throw new ApiKeyAdminConfigurationError(
        'registration',
        `no API key registration "${registration}" is in the application.`,
        `import ApiKeyModule.forRoot(${registration === 'default' ? '' : `{ name: '${registration}' }`}) in the app, or name an existing registration.`,
      );
    }
    if (ownerColumn && !this.repository.metadata.findColumnWithPropertyName(ownerColumn))
      throw new ApiKeyAdminConfigurationError(
        'ownerColumn',
        `${this.repository.metadata.name} has no column "${ownerColumn}".`,
        "name the entity's owner property, e.g. ownerColumn: 'partnerId'.",
      );
  }

  /**
   * The scope of a request: its owner in owner-scoped mode, and its actor.
   *
   * @throws {ForbiddenException} in owner-scoped mode when the request has no owner
   */
  async scopeOf(request: unknown): Promise<AdminScope> {
    const actor = this.options.actor(request) ?? null;
    if (!this.options.owner) return { owner: null, actor };
    const owner = await this.options.owner(request);
    if (owner === null || owner === undefined || owner === '')
      throw new ForbiddenException('This request has no owner whose keys it could manage.');
    return { owner: String(owner), actor };
  }

  /** A page of keys, with the total count. @throws {ApiKeyAdminBadRequest} for a bad parameter */
  async list(scope: AdminScope, query: Record<string, unknown>): Promise<ApiKeyList> {
    const list = parseListQuery(query);
    const owner = scope.owner ?? (this.options.ownerColumn ? list.owner : null);
    const now = this.now();
    const [keys, total] = await this.store(() =>
      applyListQuery(this.query(owner), list, now).getManyAndCount(),
    );
    return {
      items: keys.map((key) => this.present(key, now)),
      total,
      page: list.page,
      pageSize: list.pageSize,
      ownerField: this.ownerInput(scope).length > 0,
    };
  }

  /** One key. @throws {NotFoundException} for an unknown key or another owner's */
  async show(scope: AdminScope, id: string): Promise<ApiKeyAdminView> {
    return this.present(await this.find(scope, id), this.now());
  }

  /**
   * Creates a key; the plaintext is in this result only.
   *
   * @throws {ApiKeyAdminBadRequest} naming the field at fault; nothing is written
   */
  async create(scope: AdminScope, body: unknown) {
    const now = this.now();
    const { owner, ...input } = parseKeyFields(bodyOf(body), now, this.ownerInput(scope)) as {
      owner?: unknown;
    } & UpdateApiKeyInput;
    this.refuseOwnerCredits(scope, input);
    const owned = this.createOwner(scope, owner);
    const create = () =>
      this.store(() => this.service.create({ ...input, ...owned } as CreateApiKeyInput));
    let created: Awaited<ReturnType<typeof create>>;
    if (scope.owner === null) created = await create();
    else {
      await this.policy.checkScopes(scope.owner, input.scopes);
      const expiresAt = this.policy.expiryOnCreate(input.expiresAt, now);
      if (expiresAt !== undefined) input.expiresAt = expiresAt;
      created = await this.policy.withinKeyLimit(scope.owner, this.activeCount(scope), create);
    }
    const { apiKey, key } = created;
    await this.emit('created', apiKey, scope);
    return { apiKey: this.present(apiKey, now), key };
  }

  /**
   * Changes a usable key's name, scopes or expiry.
   *
   * @throws {ApiKeyAdminBadRequest} naming the field at fault
   * @throws {ConflictException} for a revoked or expired key, which is read-only
   */
  async update(scope: AdminScope, id: string, body: unknown): Promise<ApiKeyAdminView> {
    const changes = parseKeyFields(bodyOf(body), this.now());
    this.refuseOwnerCredits(scope, changes);
    const apiKey = this.usable(await this.find(scope, id), 'changed');
    if (scope.owner !== null) {
      await this.policy.checkScopes(scope.owner, changes.scopes);
      this.policy.checkExpiry(changes.expiresAt, apiKey.createdAt);
    }
    const updated = await this.store(() => this.service.update(apiKey.id, changes));
    await this.emit('updated', updated, scope, { changes: Object.keys(changes) });
    return this.present(updated, this.now());
  }

  /** Revokes keys, all or none: an unknown one is a 404 before any is revoked. Idempotent. */
  async revoke(scope: AdminScope, ids: string[]): Promise<ApiKeyAdminView[]> {
    const keys = [];
    for (const id of ids) keys.push(await this.find(scope, id));
    const revoked = [];
    for (const apiKey of keys) {
      const after = await this.store(() => this.service.revoke(apiKey.id));
      if (!apiKey.revoked) await this.emit('revoked', after, scope);
      revoked.push(this.present(after, this.now()));
    }
    return revoked;
  }

  /**
   * Suspends or resumes a key; idempotent. The service announces each change
   * (`api-key.disabled`, `api-key.enabled`).
   *
   * @throws {ConflictException} for a revoked or expired key, which is read-only
   */
  async setDisabled(scope: AdminScope, id: string, disabled: boolean): Promise<ApiKeyAdminView> {
    // A key suspended by the administrator (an unpaid bill, say) stays so for its owner.
    if (!disabled && scope.owner !== null)
      throw new ForbiddenException('Only an administrator can enable a key.');
    const apiKey = this.usable(await this.find(scope, id), disabled ? 'disabled' : 'enabled');
    const after = await this.store(() =>
      disabled ? this.service.disable(apiKey.id) : this.service.enable(apiKey.id),
    );
    return this.present(after, this.now());
  }

  /** The ids of a bulk revocation body. @throws {ApiKeyAdminBadRequest} */
  idsOf(body: unknown): string[] {
    return parseIds(bodyOf(body));
  }

  /**
   * Replaces a usable key with a new one; the old one works for the grace period.
   *
   * @throws {ConflictException} for a revoked or expired key
   */
  async rotate(scope: AdminScope, id: string, body: unknown) {
    const gracePeriod = parseGracePeriod(bodyOf(body ?? {}));
    const old = this.usable(await this.find(scope, id), 'rotated');
    const rotate = () => this.store(() => this.service.rotate(old.id, { gracePeriod }));
    // With a grace period the old key stays active beside the new one: that is one more.
    const { apiKey, key, previous } =
      scope.owner === null
        ? await rotate()
        : await this.policy.withinKeyLimit(
            scope.owner,
            this.activeCount(scope),
            rotate,
            gracePeriod > 0,
          );
    const now = this.now();
    const { id: previousId, prefix, expiresAt, revoked } = previous;
    await this.emit('rotated', apiKey, scope, {
      previous: { id: previousId, prefix, expiresAt, revoked },
    });
    return { apiKey: this.present(apiKey, now), key, previous: this.present(previous, now) };
  }

  /** A key's requests per day by outcome. @throws {NotFoundException} for an unknown key */
  async usage(scope: AdminScope, id: string, query: Record<string, unknown>) {
    const apiKey = await this.find(scope, id);
    return this.store(() => keyUsage(this.service, apiKey, query));
  }

  /** The scope's busiest keys over the last `hours`. */
  async busiest(scope: AdminScope, query: Record<string, unknown>) {
    return this.store(() =>
      busiestKeys(this.service, query, async (ids) => {
        if (ids.length === 0 || scope.owner === null) return new Set(ids);
        const keys = await this.query(scope.owner)
          .andWhere('key.id IN (:...ids)', { ids })
          .getMany();
        return new Set(keys.map((key) => key.id));
      }),
    );
  }

  /** The key `id` (or prefix) names within the scope. @throws {NotFoundException} */
  private async find(scope: AdminScope, id: string): Promise<AbstractApiKey> {
    const found =
      id.length <= 64
        ? await this.store(() =>
            this.query(scope.owner)
              .andWhere(isPrefix(id) ? 'key.prefix = :id' : 'key.id = :id', { id })
              .getOne(),
          )
        : null;
    if (!found) throw new NotFoundException(`No API key has the id or prefix "${id}".`);
    return found;
  }

  /** `apiKey` if it can still change. @throws {ConflictException} for a revoked or expired key */
  private usable(apiKey: AbstractApiKey, verb: string): AbstractApiKey {
    if (apiKey.revoked || apiKey.isExpired(this.now()))
      throw new ConflictException(
        `API key ${apiKey.prefix} is revoked or expired: it is read-only and cannot be ${verb}.`,
      );
    return apiKey;
  }

  /**
   * Refuses credits set by an owner: they are what the owner is billed or limited by.
   *
   * @throws {ApiKeyAdminBadRequest} naming the field, in owner-scoped mode
   */
  private refuseOwnerCredits(scope: AdminScope, fields: object): void {
    if (scope.owner === null) return;
    for (const field of ['remaining', 'refillAmount', 'refillInterval'])
      if (field in fields)
        throw new ApiKeyAdminBadRequest(field, 'only an administrator can set credits.');
  }

  /** Fields create takes besides the key's own: `owner`, in admin mode with an owner column. */
  private ownerInput(scope: AdminScope): string[] {
    return this.options.ownerColumn && scope.owner === null ? ['owner'] : [];
  }

  /** The owner columns of a new key. @throws {ApiKeyAdminBadRequest} for a missing owner */
  private createOwner(scope: AdminScope, given: unknown): Record<string, unknown> {
    const column = this.options.ownerColumn;
    if (!column) return {};
    const owner = scope.owner ?? given;
    if (owner === undefined || owner === null || owner === '') {
      const nullable = this.repository.metadata.findColumnWithPropertyName(column)?.isNullable;
      if (nullable) return {};
      throw new ApiKeyAdminBadRequest('owner', 'a key of this kind needs an owner.');
    }
    const type = this.repository.metadata.findColumnWithPropertyName(column)?.type;
    if (
      typeof owner !== 'string' ||
      owner.length > 100 ||
      owner.includes('\0') ||
      // PostgreSQL refuses anything else in a uuid column: say so before it does.
      (type === 'uuid' && !UUID.test(owner))
    )
      throw new ApiKeyAdminBadRequest('owner', 'expected an owner id.');
    return ownerFields(this.repository.metadata, column, owner);
  }

  /** Whether `property` is the owner column, or the relation that shares its database column. */
  private isOwnerProperty(property: string): boolean {
    const column = this.options.ownerColumn;
    if (!column) return false;
    const metadata = this.repository.metadata;
    const owner = metadata.findColumnWithPropertyName(column)?.databaseName;
    return (
      property === column ||
      metadata.manyToOneRelations.some(
        (relation) =>
          relation.propertyName === property &&
          relation.joinColumns.some((join) => join.databaseName === owner),
      )
    );
  }

  /** Counts the scope's owner's active keys, when called. */
  private activeCount(scope: AdminScope): () => Promise<number> {
    return () => this.store(() => whereActive(this.query(scope.owner), this.now()).getCount());
  }

  private query(owner: string | null) {
    return keysQuery(this.repository, this.options.ownerColumn, owner);
  }

  private present(apiKey: AbstractApiKey, now: Date): ApiKeyAdminView {
    return presentKey(apiKey, now, this.options.ownerColumn);
  }

  private now(): Date {
    return this.service.options.clock();
  }

  private async emit(
    type: 'created' | 'updated' | 'revoked' | 'rotated',
    apiKey: AbstractApiKey,
    scope: AdminScope,
    extra: object = {},
  ): Promise<void> {
    const event = this.events.describe(type, apiKey, { actor: scope.actor, at: this.now() });
    await this.events.emit({ ...event, ...extra });
  }

  /**
   * Runs a store operation, answering its failures in HTTP terms.
   *
   * @throws {ApiKeyAdminBadRequest} for input the service refuses
   * @throws {ServiceUnavailableException} when the database cannot be reached
   */
  private async store<R>(operation: () => Promise<R>): Promise<R> {
    try {
      return await operation();
    } catch (error) {
      if (error instanceof HttpException) throw error; // already the answer (a bad parameter)
      if (error instanceof ApiKeyValidationError) {
        // A row the database refused: its words stay here, in the server log, never in the answer.
        if (error.cause)
          this.refusals.error(
            `The database refused an API key row (${error.field ?? 'no field named'}): ${(error.cause as Error)?.message ?? String(error.cause)}`,
          );
        // A missing owner row is named as the API names it; the entity's own name stays inside.
        if (error.field !== undefined && this.isOwnerProperty(error.field))
          throw new ApiKeyAdminBadRequest('owner', 'no owner has this id.');
        throw new ApiKeyAdminBadRequest(error.field ?? 'body', error.message);
      }
      // Any other failure of a query is the database's too: never a pass, never a 500 with details.
      throw new ServiceUnavailableException('The key store is temporarily unavailable.', {
        cause: error,
      });
    }
  }
}
