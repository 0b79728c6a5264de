/**
 * nestjs-api-key: API keys for NestJS. Everything public is exported here; nothing else is API.
 */
export {
  API_KEY_ALTERNATIVES_METADATA,
  API_KEY_MODULE_OPTIONS,
  API_KEY_REQUEST_PROPERTY,
  API_KEY_SCOPES_METADATA,
  API_KEY_SKIP_METADATA,
  API_KEY_UNAUTHORIZED_MESSAGE,
  API_KEY_UNAVAILABLE_MESSAGE,
  DEFAULT_API_KEY_NAME,
  getApiKeyOptionsToken,
  getApiKeyRepositoryToken,
} from './api-key.constants.js';
export {
  AllowApiKeyOr,
  CurrentApiKey,
  InjectApiKeyOptions,
  InjectApiKeyService,
  RequireScopes,
  SkipApiKey,
} from './api-key.decorators.js';
export type {
  DormantApiKeyRevocation,
  FindDormantApiKeysOptions,
  RevokeDormantApiKeysOptions,
} from './store/dormant.js';
export { AbstractApiKey, ApiKey } from './api-key.entity.js';
export {
  ApiKeyConfigurationError,
  ApiKeyNotFoundError,
  ApiKeyRevocationError,
  ApiKeyStoreUnavailableError,
  ApiKeyValidationError,
} from './api-key.errors.js';
export {
  API_KEY_REVOKED_EVENT,
  type ApiKeyEventBus,
  type ApiKeyRevocationReason,
  type ApiKeyRevokedEvent,
} from './api-key.events.js';
export {
  ApiKeyForbiddenException,
  ApiKeyUnauthorizedException,
  ApiKeyUnavailableException,
} from './api-key.exceptions.js';
export {
  API_KEY_PREFIX_LENGTH,
  API_KEY_SECRET_LENGTH,
  apiKeyPattern,
  apiKeyPatternSource,
  isWellFormedApiKey,
  type ApiKeyFormat,
} from './keys/format.js';
export { ApiKeyGuard, type ApiKeyDenial } from './api-key.guard.js';
export { createApiKeyGuard } from './guards/factory.js';
export { BcryptApiKeyHasher, HmacSha256ApiKeyHasher, type ApiKeyHasher } from './keys/hasher.js';
// ApiKeyFailureReason, ApiKeyVerification, CreateApiKeyInput, CreatedApiKey, ListApiKeysOptions,
// RotateApiKeyOptions, RotatedApiKey: the file holds the service's public types and nothing else.
export type * from './api-key.interfaces.js';
export type { StoredApiKeyRow } from './store/lookup.js';
export {
  CreateApiKeys1764000000000,
  createApiKeyTableMigration,
  type CreateApiKeyTableMigrationOptions,
} from './schema/migration.js';
export {
  UpgradeApiKeys1796083200000,
  createApiKeyUpgradeMigration,
  type CreateApiKeyUpgradeMigrationOptions,
} from './schema/upgrade.js';
export {
  AddApiKeySecretTags1796515200000,
  createApiKeySecretTagMigration,
  type CreateApiKeySecretTagMigrationOptions,
} from './schema/secret-tag.js';
export {
  NotifyApiKeyChanges1798761600000,
  createApiKeyNotifyMigration,
  type CreateApiKeyNotifyMigrationOptions,
} from './change-feed/migration.js';
export {
  AddApiKeyPolicies1798848000000,
  createApiKeyPoliciesMigration,
  type CreateApiKeyPoliciesMigrationOptions,
} from './policies/schema.js';
export { SkipApiKeyUsage, API_KEY_SKIP_USAGE_METADATA } from './policies/decorators.js';
export {
  API_KEY_IP_NOT_ALLOWED_MESSAGE,
  API_KEY_USAGE_EXCEEDED_MESSAGE,
  ApiKeyIpNotAllowedException,
  ApiKeyUsageExceededException,
} from './policies/exceptions.js';
export {
  API_KEY_DISABLED_EVENT,
  API_KEY_ENABLED_EVENT,
  type ApiKeyStatusEvent,
} from './policies/events.js';
export { API_KEY_CREDITS_POLICY } from './policies/headers.js';
export {
  API_KEY_EXPIRATION_HEADER,
  API_KEY_EXPIRING_EVENT,
  type ApiKeyExpiringEvent,
  type ApiKeyExpiryNoticeOptions,
} from './policies/expiry-notices.js';
export type { ApiKeyMaxLifetime } from './policies/max-lifetime.js';
export type { ApiKeyRefillInterval } from './policies/refill-interval.js';
export type { ApiKeyPolicyInput } from './policies/input.js';
export { CreateApiKeyUsage1799020800000 } from './usage/migration.js';
export { API_KEY_SUSPICIOUS_EVENT, type ApiKeySuspiciousEvent } from './usage/guessing.js';
export type { ApiKeyUsageCounts, ApiKeyUsageOutcome } from './usage/outcomes.js';
export type { ApiKeyUsagePoint, ApiKeyUsageQuery, ApiKeyUsageReport } from './usage/report.js';
export { runMigrationsLocked, type RunMigrationsOptions } from './schema/lock.js';
export { ApiKeyModule } from './api-key.module.js';
export type {
  ApiKeyModuleAsyncOptions,
  ApiKeyModuleOptions,
  ApiKeyNotifySync,
  ApiKeyOptions,
  ApiKeyOptionsFactory,
  ResolvedApiKeyOptions,
} from './api-key.options.js';
export { ApiKeyService, getApiKeyServiceToken } from './api-key.service.js';
export { wireApiKeys, type ApiKeyWiring, type ApiKeyWiringInput } from './api-key.wiring.js';
