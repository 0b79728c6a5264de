import { createApiKeySecretTagMigration } from '../../lib/index.js';

/**
 * Adds the secret tag column to a `partner_api_keys` table made by an earlier version of the
 * sample, as the library's `AddApiKeySecretTags1796515200000` does for `api_keys`; on a new
 * database, whose table already has it, it does nothing.
 */
export const AddPartnerApiKeySecretTags1796515200001 = createApiKeySecretTagMigration({
  table: 'partner_api_keys',
  name: 'AddPartnerApiKeySecretTags1796515200001',
});
