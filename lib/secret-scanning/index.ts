/**
 * nestjs-api-key/secret-scanning: GitHub's secret-scanning partner endpoint, which revokes this
 * app's keys when they are found in public code.
 */
export { SecretScanningHandler } from './secret-scanning.handler.js';
export { SecretScanningModule } from './secret-scanning.module.js';
export {
  API_KEY_LEAKED_EVENT,
  type ApiKeyLeakedEvent,
  type SecretScanningOptions,
} from './secret-scanning.options.js';
export {
  GITHUB_SECRET_SCANNING_KEYS_URL,
  SecretScanningPublicKeys,
  type GitHubPublicKey,
  type SecretScanningKeySource,
} from './secret-scanning.public-keys.js';
export type { SecretScanningLabel } from './secret-scanning.report.js';
