import type { DynamicModule } from '@nestjs/common';
import { DEFAULT_API_KEY_NAME } from '../lib/index.js';
import { SecretScanningModule } from '../lib/secret-scanning/index.js';
import { PARTNER_KEYS } from './partners/partners.controller.js';

/**
 * `POST /secret-scanning`, GitHub's secret-scanning partner endpoint: a correctly signed report
 * of a live key revokes it. Signing keys come from the file named by `SECRET_SCANNING_PUBLIC_KEYS`
 * (GitHub's `{ "public_keys": [...] }` shape, so tests can sign with their own), else from GitHub.
 */
export function sampleSecretScanning(
  file = process.env.SECRET_SCANNING_PUBLIC_KEYS,
): DynamicModule {
  return SecretScanningModule.forRoot({
    publicKeys: file ? { file } : undefined,
    registrations: [DEFAULT_API_KEY_NAME, PARTNER_KEYS],
  });
}
