import { Module, type DynamicModule } from '@nestjs/common';
import { adminAssets } from './admin.assets.js';
import { createAdminControllers } from './admin.controllers.js';
import { ApiKeyAdminEvents } from './admin.events.js';
import { ApiKeyAdminHeadersInterceptor } from './admin.headers.interceptor.js';
import { ApiKeyAdminKeys } from './admin.keys.js';
import {
  API_KEY_ADMIN_OPTIONS,
  resolveAdminOptions,
  type ApiKeyAdminOptions,
} from './admin.options.js';
import { ApiKeyAdminSameOriginGuard } from './admin.same-origin.guard.js';

/**
 * A page and a JSON management API for one registration's keys, behind the app's own guard.
 *
 * @example
 * ```ts
 * ApiKeyAdminModule.forRoot({ path: 'admin/keys', guard: AdminGuard })
 * ```
 *
 * @publicApi
 */
@Module({})
export class ApiKeyAdminModule {
  /**
   * Mounts the page at `path` and the API at `<path>/api/keys`.
   *
   * @throws {ApiKeyAdminConfigurationError} for options that would not be safe, a missing guard first
   */
  static forRoot(options: ApiKeyAdminOptions): DynamicModule {
    const resolved = resolveAdminOptions(options);
    // Read now, so missing files stop the boot rather than the first visit.
    adminAssets();
    return {
      module: ApiKeyAdminModule,
      imports: resolved.imports ?? [],
      controllers: createAdminControllers(resolved.path, resolved.guard),
      providers: [
        { provide: API_KEY_ADMIN_OPTIONS, useValue: resolved },
        ApiKeyAdminEvents,
        ApiKeyAdminKeys,
        ApiKeyAdminSameOriginGuard,
        ApiKeyAdminHeadersInterceptor,
      ],
    };
  }
}
