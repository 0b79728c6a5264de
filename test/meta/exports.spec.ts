import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const LIB = fileURLToPath(new URL('../../lib/', import.meta.url));

/**
 * Every name each entry point exports, types included, as users import them: a rename, a
 * removal or an addition fails here until this list is changed on purpose (and the change is
 * named in the release notes). Moving a file inside lib/ must not change it.
 */
const PINNED: Record<string, string[]> = {
  '.': [
    'API_KEY_ALTERNATIVES_METADATA',
    'API_KEY_CREDITS_POLICY',
    'API_KEY_DISABLED_EVENT',
    'API_KEY_ENABLED_EVENT',
    'API_KEY_EXPIRATION_HEADER',
    'API_KEY_EXPIRING_EVENT',
    'API_KEY_IP_NOT_ALLOWED_MESSAGE',
    'API_KEY_MODULE_OPTIONS',
    'API_KEY_PREFIX_LENGTH',
    'API_KEY_REQUEST_PROPERTY',
    'API_KEY_REVOKED_EVENT',
    'API_KEY_SCOPES_METADATA',
    'API_KEY_SECRET_LENGTH',
    'API_KEY_SKIP_METADATA',
    'API_KEY_SKIP_USAGE_METADATA',
    'API_KEY_SUSPICIOUS_EVENT',
    'API_KEY_UNAUTHORIZED_MESSAGE',
    'API_KEY_UNAVAILABLE_MESSAGE',
    'API_KEY_USAGE_EXCEEDED_MESSAGE',
    'AbstractApiKey',
    'AddApiKeyPolicies1798848000000',
    'AddApiKeySecretTags1796515200000',
    'AllowApiKeyOr',
    'ApiKey',
    'ApiKeyConfigurationError',
    'ApiKeyDenial',
    'ApiKeyEventBus',
    'ApiKeyExpiringEvent',
    'ApiKeyExpiryNoticeOptions',
    'ApiKeyFailureReason',
    'ApiKeyForbiddenException',
    'ApiKeyFormat',
    'ApiKeyGuard',
    'ApiKeyHasher',
    'ApiKeyIpNotAllowedException',
    'ApiKeyMaxLifetime',
    'ApiKeyModule',
    'ApiKeyModuleAsyncOptions',
    'ApiKeyModuleOptions',
    'ApiKeyNotFoundError',
    'ApiKeyNotifySync',
    'ApiKeyOptions',
    'ApiKeyOptionsFactory',
    'ApiKeyPolicyInput',
    'ApiKeyPolicyRefusal',
    'ApiKeyRefillInterval',
    'ApiKeyRevocationError',
    'ApiKeyRevocationReason',
    'ApiKeyRevokedEvent',
    'ApiKeyService',
    'ApiKeyStatusEvent',
    'ApiKeyStoreUnavailableError',
    'ApiKeySuspiciousEvent',
    'ApiKeyUnauthorizedException',
    'ApiKeyUnavailableException',
    'ApiKeyUsageByKey',
    'ApiKeyUsageCounts',
    'ApiKeyUsageExceededException',
    'ApiKeyUsageOutcome',
    'ApiKeyUsagePoint',
    'ApiKeyUsageQuery',
    'ApiKeyUsageReport',
    'ApiKeyValidationError',
    'ApiKeyVerification',
    'ApiKeyWiring',
    'ApiKeyWiringInput',
    'BcryptApiKeyHasher',
    'CreateApiKeyInput',
    'CreateApiKeyNotifyMigrationOptions',
    'CreateApiKeyPoliciesMigrationOptions',
    'CreateApiKeySecretTagMigrationOptions',
    'CreateApiKeyTableMigrationOptions',
    'CreateApiKeyUpgradeMigrationOptions',
    'CreateApiKeyUsage1799020800000',
    'CreateApiKeys1764000000000',
    'CreatedApiKey',
    'CurrentApiKey',
    'DEFAULT_API_KEY_NAME',
    'DormantApiKeyRevocation',
    'FindDormantApiKeysOptions',
    'HmacSha256ApiKeyHasher',
    'InjectApiKeyOptions',
    'InjectApiKeyService',
    'ListApiKeysOptions',
    'NotifyApiKeyChanges1798761600000',
    'RequireScopes',
    'ResolvedApiKeyOptions',
    'RevokeDormantApiKeysOptions',
    'RotateApiKeyOptions',
    'RotatedApiKey',
    'RunMigrationsOptions',
    'SkipApiKey',
    'SkipApiKeyUsage',
    'StoredApiKeyRow',
    'UpdateApiKeyInput',
    'UpgradeApiKeys1796083200000',
    'VerifyApiKeyOptions',
    'apiKeyPattern',
    'apiKeyPatternSource',
    'createApiKeyGuard',
    'createApiKeyNotifyMigration',
    'createApiKeyPoliciesMigration',
    'createApiKeySecretTagMigration',
    'createApiKeyTableMigration',
    'createApiKeyUpgradeMigration',
    'getApiKeyOptionsToken',
    'getApiKeyRepositoryToken',
    'getApiKeyServiceToken',
    'isWellFormedApiKey',
    'runMigrationsLocked',
    'wireApiKeys',
  ],
  './admin': [
    'API_KEY_ADMIN_CSP',
    'API_KEY_ADMIN_EVENTS',
    'API_KEY_ADMIN_REQUEST_HEADER',
    'API_KEY_ADMIN_REQUEST_VALUE',
    'ApiKeyAdminBadRequest',
    'ApiKeyAdminConfigurationError',
    'ApiKeyAdminEvent',
    'ApiKeyAdminEventType',
    'ApiKeyAdminModule',
    'ApiKeyAdminOptions',
    'ApiKeyAdminPolicyRefusal',
    'ApiKeyAdminSameOriginGuard',
    'ApiKeyAdminUsage',
    'ApiKeyAdminView',
    'ApiKeyList',
    'ApiKeyOwnerPolicy',
    'ApiKeyOwnerResolver',
    'ApiKeyStatusFilter',
  ],
  './metrics': [
    'API_KEY_COLD_PATH_QUEUE_METRIC',
    'API_KEY_VERIFICATIONS_METRIC',
    'ApiKeyMetrics',
    'ApiKeyMetricsModule',
    'ApiKeyMetricsOptions',
  ],
  './secret-scanning': [
    'API_KEY_LEAKED_EVENT',
    'ApiKeyLeakedEvent',
    'GITHUB_SECRET_SCANNING_KEYS_URL',
    'GitHubPublicKey',
    'SecretScanningHandler',
    'SecretScanningKeySource',
    'SecretScanningLabel',
    'SecretScanningModule',
    'SecretScanningOptions',
    'SecretScanningPublicKeys',
  ],
  './swagger': [
    'API_KEY_ALTERNATIVES_EXTENSION',
    'API_KEY_KEYWORD_EXTENSION',
    'API_KEY_SCOPES_EXTENSION',
    'ApiKeyDocumentOptions',
    'ApiKeyOperation',
    'OperationSchemes',
    'SecurityRequirement',
    'apiKeySchemeName',
    'apiKeySecurityScheme',
    'apiKeySwaggerUiOptions',
    'createApiKeyDocument',
  ],
  './throttler': ['ApiKeyRateLimit', 'ApiKeyThrottlerGuard', 'ApiKeyWithRateLimits'],
};

/** Where each entry point's source is, by its subpath in package.json's `exports`. */
const ENTRY_FILES: Record<string, string> = {
  '.': 'index.ts',
  './admin': 'admin/index.ts',
  './metrics': 'metrics/index.ts',
  './secret-scanning': 'secret-scanning/index.ts',
  './swagger': 'swagger/index.ts',
  './throttler': 'throttler/index.ts',
};

/** The names each entry exports, read by the compiler: values, classes, types and interfaces. */
function exportedNames(): Record<string, string[]> {
  const files = Object.values(ENTRY_FILES).map((file) => join(LIB, file));
  const program = ts.createProgram(files, {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    experimentalDecorators: true,
    skipLibCheck: true,
    noEmit: true,
    types: ['node'],
  });
  const checker = program.getTypeChecker();
  const names: Record<string, string[]> = {};
  for (const [entry, file] of Object.entries(ENTRY_FILES)) {
    const module = checker.getSymbolAtLocation(program.getSourceFile(join(LIB, file))!)!;
    names[entry] = checker
      .getExportsOfModule(module)
      .map((symbol) => symbol.getName())
      .sort();
  }
  return names;
}

describe('the exported names of every entry point', () => {
  const names = exportedNames();

  it.each(Object.keys(ENTRY_FILES))('%s exports exactly its pinned names', (entry) => {
    expect(names[entry]).toEqual(PINNED[entry]);
  });

  it.each(Object.keys(ENTRY_FILES))(
    '%s gives every value it declares at run time',
    async (entry) => {
      const loaded = (await import(join(LIB, ENTRY_FILES[entry]))) as Record<string, unknown>;
      const runtime = Object.keys(loaded);
      expect(runtime.length).toBeGreaterThan(0);
      expect(runtime.filter((name) => !PINNED[entry].includes(name))).toEqual([]);
    },
  );
});
