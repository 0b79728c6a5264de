import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

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

  /** The entity as JSON, without `hashedKey` and `secretTag`, with `revoked` spelled out. */
  toJSON(): Record<string, unknown> {
    const { hashedKey: _hidden, secretTag: _tag, ...rest } = this as Record<string, unknown>;
    return { ...rest, revoked: this.revoked };
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
