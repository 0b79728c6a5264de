import type { DynamicModule } from '@nestjs/common';
import { expect } from 'vitest';
import { ApiKeyConfigurationError } from '../../lib/index.js';
import { startApp, type AdapterFactory } from './http.js';

/** The error a boot fails with, or a failed assertion if it boots. */
export async function bootError(
  module: DynamicModule,
  adapter: AdapterFactory,
): Promise<ApiKeyConfigurationError> {
  const started = await startApp(module, adapter).then(
    async ({ app }) => {
      await app.close();
      return null;
    },
    (error: unknown) => error,
  );
  expect(started, 'the app booted').toBeInstanceOf(ApiKeyConfigurationError);
  return started as ApiKeyConfigurationError;
}
