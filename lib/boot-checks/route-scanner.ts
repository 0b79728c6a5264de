import { Injectable, type OnApplicationBootstrap, type Type } from '@nestjs/common';
import { PATH_METADATA } from '@nestjs/common/constants.js';
import { ApplicationConfig, MetadataScanner, ModulesContainer, Reflector } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper.js';
import { registrationOfGuard } from '../guards/factory.js';
import { checkRoute, type KeyGuardOnRoute, type ScannedRoute } from './route-checks.js';

/** `@Query()`, `@Mutation()` and `@Subscription()` of `@nestjs/graphql` mark their methods so. */
const GRAPHQL_RESOLVER_TYPE = 'graphql:resolver_type';
/** `@SubscribeMessage()` of `@nestjs/websockets` marks its methods so. */
const WEBSOCKET_MESSAGE_MAPPING = 'websockets:message_mapping';

/** Applications already scanned: every registration provides a scanner, one scan is enough. */
const scanned = new WeakSet<ApplicationConfig>();

/**
 * Checks, once the application is initialised, that every route's API key decorators do what
 * they say, and refuses to start otherwise: a misplaced decorator must not leave open a route
 * that reads as protected. Walks HTTP routes, GraphQL queries, mutations and subscriptions, and
 * WebSocket message handlers; works out which API key guards run on each (the global ones and
 * those in `@UseGuards()` on the method and class); and hands each route to `checkRoute`.
 */
@Injectable()
export class ApiKeyRouteScanner implements OnApplicationBootstrap {
  // ModulesContainer, not DiscoveryService (a thin view of it), so that ApiKeyModule needs no import.
  constructor(
    private readonly modules: ModulesContainer,
    private readonly reflector: Reflector,
    private readonly config: ApplicationConfig,
  ) {}

  /**
   * Scans the application, the first time any registration's scanner is called.
   *
   * @throws {ApiKeyConfigurationError} naming the first route whose decorators would not hold, and the fix
   */
  onApplicationBootstrap(): void {
    if (scanned.has(this.config)) return;
    scanned.add(this.config);
    const globals = globalKeyGuards(this.config);
    for (const route of this.routes()) checkRoute(route, globals, this.reflector);
  }

  private routes(): Generator<ScannedRoute> {
    return scanRoutes(this.modules);
  }
}

/** The API key guards registered as `APP_GUARD` or with `app.useGlobalGuards()`. */
export function globalKeyGuards(config: ApplicationConfig): KeyGuardOnRoute[] {
  const guards: unknown[] = [
    ...config.getGlobalGuards(),
    ...config.getGlobalRequestGuards().map((wrapper) => wrapper.metatype),
  ];
  const keyGuards: KeyGuardOnRoute[] = [];
  for (const guard of guards) {
    const registration = registrationOfGuard(guard);
    if (registration !== undefined) keyGuards.push({ guard, registration });
  }
  return keyGuards;
}

/**
 * Every route handler of the application (HTTP routes, GraphQL resolvers, WebSocket message
 * handlers), each class once however many modules provide it.
 */
export function* scanRoutes(modules: ModulesContainer): Generator<ScannedRoute> {
  const metadataScanner = new MetadataScanner();
  const seen = new Set<Function>();
  const all = [...modules.values()];
  const sources: Array<[InstanceWrapper[], (handler: Function) => boolean]> = [
    [
      all.flatMap((module) => [...module.controllers.values()]),
      (handler) => Reflect.hasMetadata(PATH_METADATA, handler),
    ],
    [
      all.flatMap((module) => [...module.providers.values()]),
      (handler) =>
        Reflect.hasMetadata(GRAPHQL_RESOLVER_TYPE, handler) ||
        Reflect.getMetadata(WEBSOCKET_MESSAGE_MAPPING, handler) === true,
    ],
  ];
  for (const [wrappers, isRoute] of sources) {
    for (const wrapper of wrappers) {
      const owner = classOf(wrapper);
      if (!owner || seen.has(owner)) continue;
      seen.add(owner);
      for (const name of metadataScanner.getAllMethodNames(owner.prototype)) {
        const handler = owner.prototype[name];
        if (isRoute(handler)) yield { owner, handler, label: `${owner.name}.${name}` };
      }
    }
  }
}

/** The class behind a controller or provider: its own for a class, its instance's for a factory. */
function classOf(wrapper: InstanceWrapper): Type | undefined {
  const candidate = wrapper.inject ? wrapper.instance?.constructor : wrapper.metatype;
  return typeof candidate === 'function' && candidate !== Object && candidate.prototype
    ? (candidate as Type)
    : undefined;
}
