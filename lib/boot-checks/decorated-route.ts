import { Injectable, type CanActivate } from '@nestjs/common';
import { ApiKeyRouteScanner } from './route-scanner.js';

/**
 * The guard `@RequireScopes()` and `@SkipApiKey()` apply, so that their routes are checked at
 * boot even in an application without `ApiKeyModule`: the route scanner lives in the module,
 * and without it a `@RequireScopes()` route no guard checks would boot silently and stay open.
 * As an injectable of the route's module it runs the same scan when the application boots (once
 * per application, whoever starts it), which refuses such a route naming the fix. At request
 * time it lets everything through: the API key guards decide.
 */
@Injectable()
export class ApiKeyDecoratedRouteCheck extends ApiKeyRouteScanner implements CanActivate {
  /** Always `true`: the check is done at boot, and the route's API key guards do the rest. */
  canActivate(): boolean {
    return true;
  }
}
