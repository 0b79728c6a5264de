import { createApiKeyUpgradeMigration } from '../../lib/index.js';

/**
 * Brings a `partner_api_keys` table made by an earlier version of the sample up to date, as
 * the library's `UpgradeApiKeys1796083200000` does for `api_keys`; on a new database it only
 * rewrites the revocation trigger.
 */
export const UpgradePartnerApiKeys1796083200001 = createApiKeyUpgradeMigration({
  table: 'partner_api_keys',
  name: 'UpgradePartnerApiKeys1796083200001',
});
