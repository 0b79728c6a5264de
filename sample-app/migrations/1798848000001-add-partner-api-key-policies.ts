import { createApiKeyPoliciesMigration } from '../../lib/index.js';

/**
 * Adds the key policy columns (suspension, IP allow-list, credits, expiry notices) to a
 * `partner_api_keys` table made before them, as the library's `AddApiKeyPolicies1798848000000`
 * does for `api_keys`; on a new database, whose table already has them, it only makes sure of the
 * trigger keeping revoked keys from being enabled.
 */
export const AddPartnerApiKeyPolicies1798848000001 = createApiKeyPoliciesMigration({
  table: 'partner_api_keys',
  name: 'AddPartnerApiKeyPolicies1798848000001',
});
