import {
  ConflictException,
  ForbiddenException,
  Inject,
  Injectable,
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
import type { CreateApiKeyInput } from '../api-key.interfaces.js';
import { ApiKeyService, getApiKeyServiceToken } from '../api-key.service.js';
import { ApiKeyAdminBadRequest } from './admin.errors.js';
import { ApiKeyAdminEvents } from './admin.events.js';
import { bodyOf, ownerFields, parseGracePeriod, parseIds, parseKeyFields } from './admin.input.js';
import {
  API_KEY_ADMIN_OPTIONS,
  ApiKeyAdminConfigurationError,
  type ResolvedApiKeyAdminOptions,
} from './admin.options.js';
import { applyListQuery, keysQuery, parseListQuery } from './admin.query.js';
import { presentKey, type ApiKeyAdminView, type ApiKeyList } from './admin.view.js';

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

  constructor(
    @Inject(API_KEY_ADMIN_OPTIONS) private readonly options: ResolvedApiKeyAdminOptions,
    private readonly moduleRef: ModuleRef,
    private readonly events: ApiKeyAdminEvents,
  ) {}

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
    };
    this.refuseOwnerCredits(scope, input);
    const owned = this.createOwner(scope, owner);
    const { apiKey, key } = await this.store(() =>
      this.service.create({ ...input, ...owned } as CreateApiKeyInput),
    );
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
    const { apiKey, key, previous } = await this.store(() =>
      this.service.rotate(old.id, { gracePeriod }),
    );
    const now = this.now();
    const { id: previousId, prefix, expiresAt, revoked } = previous;
    await this.emit('rotated', apiKey, scope, {
      previous: { id: previousId, prefix, expiresAt, revoked },
    });
    return { apiKey: this.present(apiKey, now), key, previous: this.present(previous, now) };
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
    if (typeof owner !== 'string' || owner.length > 100)
      throw new ApiKeyAdminBadRequest('owner', 'expected an owner id.');
    return ownerFields(this.repository.metadata, column, owner);
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
      if (error instanceof ApiKeyValidationError)
        throw new ApiKeyAdminBadRequest(error.field ?? 'body', error.message);
      // Any other failure of a query is the database's too: never a pass, never a 500 with details.
      throw new ServiceUnavailableException('The key store is temporarily unavailable.', {
        cause: error,
      });
    }
  }
}
