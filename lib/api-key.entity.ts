import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import type { ApiKeyRefillInterval } from './policies/refill-interval.js';

/**
 * The columns every API key entity has. Extend it to make your own key type, for instance
 * keys that belong to an organisation:
 *
 * @example
 * ```ts
 * @Entity('partner_api_keys')
 * export class PartnerApiKey extends AbstractApiKey {
 *   @ManyToOne(() => Partner, { nullable: false, onDelete: 'CASCADE' })
 *   @JoinColumn({ name: 'partner_id' })
 *   partner!: Partner;
 *
 *   @Column({ name: 'partner_id', type: 'varchar', length: 36 })
 *   partnerId!: string;
 * }
 * ```
 *
 * The plaintext key is never a property of the entity: only `prefix` (public, for lookup and
 * display), `hashedKey` and its `secretTag` (never selected unless asked for) are stored.
 *
 * @publicApi
 */
export abstract class AbstractApiKey {
  /** Opaque identifier (a UUID), safe to put in URLs and logs. */
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  /**
   * The public part of the key, before the dot: 8 alphanumeric characters, unique. It is what
   * lists show to identify a key, and what the guard looks a presented key up by.
   */
  @Index({ unique: true })
  @Column({ type: 'varchar', length: 16 })
  prefix!: string;

  /**
   * The hash of the whole key, in the format of the hasher that made it. Never selected by
   * `find()`, `list()` or `findOne()`, and left out of `toJSON()`.
   */
  @Column({ name: 'hashed_key', type: 'varchar', length: 255, select: false })
  hashedKey!: string;

  /**
   * A short fast tag of the key (32 bits of its SHA-256, bound to `hashedKey`), checked before
   * the slow hash so a wrong secret is refused without it; `null` for keys stored before tags
   * (they gain one on their next successful check) and under HMAC. Kept like `hashedKey`:
   * never selected unless asked for, left out of `toJSON()`. See docs/verification.md.
   */
  @Column({ name: 'secret_tag', type: 'varchar', length: 16, nullable: true, select: false })
  secretTag?: string | null;

  /** Free-form label, required, at most 100 characters; need not be unique. */
  @Column({ type: 'varchar', length: 100 })
  name!: string;

  /** Scopes granted to the key, checked against `@RequireScopes()`. */
  @Column({ type: 'simple-json' })
  scopes!: string[];

  /** When the key was made. */
  @Column({ name: 'created_at', type: Date, precision: 3 })
  createdAt!: Date;

  /** When the key stops working; `null` for never. A key is expired when `expiresAt <= now`. */
  @Column({ name: 'expires_at', type: Date, precision: 3, nullable: true })
  expiresAt!: Date | null;

  /** When the key was revoked; `null` while it is not. Once set it can never be cleared. */
  @Column({ name: 'revoked_at', type: Date, precision: 3, nullable: true })
  revokedAt!: Date | null;

  /**
   * When the key was last used to pass the guard, recorded at most once per key per
   * `usageTracking.interval`, so it is approximate to within that interval. `null` if never used.
   */
  @Column({ name: 'last_used_at', type: Date, precision: 3, nullable: true })
  lastUsedAt!: Date | null;

  /**
   * When the key was suspended; `null` while it is not. Unlike `revokedAt` it can be cleared
   * (`ApiKeyService.enable()`), except on a revoked key. See docs/policies.md.
   */
  @Column({ name: 'disabled_at', type: Date, precision: 3, nullable: true })
  disabledAt!: Date | null;

  /**
   * IPv4/IPv6 addresses and CIDR ranges the key may be used from; `null` for any address. A
   * request from elsewhere gets 403.
   */
  @Column({ name: 'allowed_ips', type: 'simple-json', nullable: true })
  allowedIps!: string[] | null;

  /**
   * Credits left: each request the guard accepts spends one, and a key with none left gets 429.
   * `null` for unlimited (no write at all per request).
   */
  @Column({ type: 'integer', nullable: true })
  remaining!: number | null;

  /** Credits the key is topped up to at each `refillInterval` boundary (UTC); `null`: no refill. */
  @Column({ name: 'refill_amount', type: 'integer', nullable: true })
  refillAmount!: number | null;

  /** When credits are topped up to `refillAmount`: each `day` or `month`, at UTC boundaries. */
  @Column({ name: 'refill_interval', type: 'varchar', length: 8, nullable: true })
  refillInterval!: ApiKeyRefillInterval | null;

  /** When credits were last topped up; `null` if never (the period of `createdAt` counts as refilled). */
  @Column({ name: 'last_refill_at', type: Date, precision: 3, nullable: true })
  lastRefillAt!: Date | null;

  /** When an `api-key.expiring` event was sent for the key's current expiry; `null` if none was. */
  @Column({ name: 'expiry_notified_at', type: Date, precision: 3, nullable: true })
  expiryNotifiedAt!: Date | null;

  /** Whether the key is suspended (`disabledAt` set). A disabled key is refused like a revoked one. */
  get disabled(): boolean {
    return this.disabledAt != null;
  }

  /** Whether the key has been revoked. Revocation cannot be undone. */
  get revoked(): boolean {
    return this.revokedAt != null;
  }

  /**
   * Whether the key has expired at the given instant (`expiresAt <= now`).
   *
   * @param now the instant to test; the service passes its injectable clock
   */
  isExpired(now: Date = new Date()): boolean {
    return this.expiresAt != null && this.expiresAt.getTime() <= now.getTime();
  }

  /**
   * The entity as JSON, without `hashedKey` and `secretTag`, with `revoked` and `disabled`
   * spelled out.
   */
  toJSON(): Record<string, unknown> {
    const { hashedKey: _hidden, secretTag: _tag, ...rest } = this as Record<string, unknown>;
    return { ...rest, revoked: this.revoked, disabled: this.disabled };
  }

  /** The key's name, as DRF API Key's `__str__` gives it. */
  toString(): string {
    return this.name;
  }
}

/**
 * The built-in key entity, in table `api_keys`. `ApiKeyModule.forRoot()` uses it unless an
 * `entity` option names your own subclass of `AbstractApiKey`.
 *
 * @publicApi
 */
@Entity({ name: 'api_keys' })
export class ApiKey extends AbstractApiKey {}
