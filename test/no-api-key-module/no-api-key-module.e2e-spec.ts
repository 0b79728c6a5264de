import 'reflect-metadata';
import { describe, expect, it } from 'vitest';
import { bootError } from '../support/boot-error.js';
import { ADAPTERS } from '../support/http.js';
import { CONTROLLERS, NoApiKeyModuleApp } from './no-api-key-module.app.js';

/**
 * An application that uses our decorators but never imports ApiKeyModule: none of them may
 * leave its route open. Each stops the boot with a message naming the route and the fix.
 */
describe.each(ADAPTERS)('our decorators in an app without ApiKeyModule on %s', (_p, adapter) => {
  it('refuses @RequireScopes() on a method with no guard, naming the route and the fix', async () => {
    const error = await bootError(
      NoApiKeyModuleApp.with(CONTROLLERS['@RequireScopes() on a method']),
      adapter,
    );
    expect(error.message).toContain(
      'ScopedController.create requires scope "projects:write", but no API key guard protects it',
    );
    expect(error.message).toContain('add @UseGuards(ApiKeyGuard)');
  });

  it('refuses @RequireScopes() on a controller with no guard', async () => {
    const error = await bootError(
      NoApiKeyModuleApp.with(CONTROLLERS['@RequireScopes() on a class']),
      adapter,
    );
    expect(error.message).toContain('ScopedClassController.list requires scope "projects:read"');
  });

  it('refuses @SkipApiKey() where no API key guard runs', async () => {
    const error = await bootError(NoApiKeyModuleApp.with(CONTROLLERS['@SkipApiKey()']), adapter);
    expect(error.message).toContain('@SkipApiKey() on SkippedController.health');
    expect(error.message).toContain('remove @SkipApiKey(): no API key guard runs on this route.');
  });

  it('refuses @AllowApiKeyOr(), whose key side has no registration, naming forRoot()', async () => {
    const error = await bootError(NoApiKeyModuleApp.with(CONTROLLERS['@AllowApiKeyOr()']), adapter);
    expect(error.message).toContain('no ApiKeyModule.forRoot() registers "default"');
  });
});
