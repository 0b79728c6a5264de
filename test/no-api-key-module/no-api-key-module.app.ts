import { Controller, Get, Injectable, Module, Post, type CanActivate } from '@nestjs/common';
import type { DynamicModule, Type } from '@nestjs/common';
import { AllowApiKeyOr, RequireScopes, SkipApiKey } from '../../lib/index.js';

/** A guard of the app's own that refuses everyone: the alternative of `@AllowApiKeyOr()`. */
@Injectable()
export class NobodyGuard implements CanActivate {
  canActivate(): boolean {
    return false;
  }
}

@Controller('projects')
export class ScopedController {
  /** Reads as "needs a key with projects:write", and no guard is anywhere. */
  @RequireScopes('projects:write')
  @Post()
  create() {
    return { created: true };
  }
}

@Controller('projects')
@RequireScopes('projects:read')
export class ScopedClassController {
  @Get()
  list() {
    return { projects: [] };
  }
}

@Controller('health')
export class SkippedController {
  @SkipApiKey()
  @Get()
  health() {
    return { status: 'ok' };
  }
}

@Controller('reports')
export class AlternativeController {
  @AllowApiKeyOr(NobodyGuard)
  @Get()
  reports() {
    return { reports: [] };
  }
}

/** The decorated controllers, one app each. */
export const CONTROLLERS = {
  '@RequireScopes() on a method': ScopedController,
  '@RequireScopes() on a class': ScopedClassController,
  '@SkipApiKey()': SkippedController,
  '@AllowApiKeyOr()': AlternativeController,
} as const;

/** An application with one of the controllers and no ApiKeyModule, nor TypeORM, at all. */
@Module({})
export class NoApiKeyModuleApp {
  static with(controller: Type): DynamicModule {
    return { module: NoApiKeyModuleApp, controllers: [controller], providers: [NobodyGuard] };
  }
}
