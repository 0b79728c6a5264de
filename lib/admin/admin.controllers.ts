import {
  Body,
  Controller,
  Get,
  Header,
  HttpCode,
  NotFoundException,
  Param,
  Patch,
  Post,
  Query,
  Req,
  Res,
  UseGuards,
  UseInterceptors,
  type CanActivate,
  type Type,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { ADMIN_ASSET_TYPES, adminAssets, pageAt } from './admin.assets.js';
import { ApiKeyAdminHeadersInterceptor } from './admin.headers.interceptor.js';
import { ApiKeyAdminKeys } from './admin.keys.js';
import { ApiKeyAdminSameOriginGuard } from './admin.same-origin.guard.js';

/**
 * The page and management API controllers of one `forRoot()`, at its path, behind the app's guard
 * (first, so an anonymous request gets the app's 401) and the same-origin check.
 */
export function createAdminControllers(
  path: string,
  guard: Type<CanActivate> | CanActivate,
): Type[] {
  return [
    createPageController(path, guard),
    createApiController(path, guard),
    createStatusController(path, guard),
  ];
}

/** The page and its scripts and stylesheet. */
function createPageController(path: string, guard: Type<CanActivate> | CanActivate): Type {
  @Controller(path)
  @UseGuards(guard)
  @UseInterceptors(ApiKeyAdminHeadersInterceptor)
  class ApiKeyAdminPageController {
    constructor(private readonly adapterHost: HttpAdapterHost) {}

    @Get()
    @Header('Content-Type', 'text/html; charset=utf-8')
    page(@Req() request: any): string {
      return pageAt(String(request.originalUrl ?? request.url));
    }

    /** @throws {NotFoundException} for a file the page does not load */
    @Get('assets/:file')
    asset(@Param('file') file: string, @Res({ passthrough: true }) response: unknown): string {
      const body = adminAssets().files.get(file);
      if (body === undefined) throw new NotFoundException();
      this.adapterHost.httpAdapter.setHeader(response, 'Content-Type', ADMIN_ASSET_TYPES[file]);
      return body;
    }
  }
  return ApiKeyAdminPageController;
}

/** The JSON management API the page (or an app's own dashboard) calls. */
function createApiController(path: string, guard: Type<CanActivate> | CanActivate): Type {
  @Controller(`${path}/api/keys`)
  @UseGuards(guard, ApiKeyAdminSameOriginGuard)
  @UseInterceptors(ApiKeyAdminHeadersInterceptor)
  class ApiKeyAdminApiController {
    constructor(private readonly keys: ApiKeyAdminKeys) {}

    @Get()
    async list(@Req() request: unknown, @Query() query: Record<string, unknown>) {
      return this.keys.list(await this.keys.scopeOf(request), query);
    }

    @Post()
    async create(@Req() request: unknown, @Body() body: unknown) {
      return this.keys.create(await this.keys.scopeOf(request), body);
    }

    @Post('revoke')
    @HttpCode(200)
    async revokeMany(@Req() request: unknown, @Body() body: unknown) {
      const ids = this.keys.idsOf(body);
      return { items: await this.keys.revoke(await this.keys.scopeOf(request), ids) };
    }

    @Get('busiest')
    async busiest(@Req() request: unknown, @Query() query: Record<string, unknown>) {
      return this.keys.busiest(await this.keys.scopeOf(request), query);
    }

    @Get(':id/usage')
    async usage(
      @Req() request: unknown,
      @Param('id') id: string,
      @Query() query: Record<string, unknown>,
    ) {
      return this.keys.usage(await this.keys.scopeOf(request), id, query);
    }

    @Get(':id')
    async show(@Req() request: unknown, @Param('id') id: string) {
      return this.keys.show(await this.keys.scopeOf(request), id);
    }

    @Patch(':id')
    async update(@Req() request: unknown, @Param('id') id: string, @Body() body: unknown) {
      return this.keys.update(await this.keys.scopeOf(request), id, body);
    }

    @Post(':id/revoke')
    @HttpCode(200)
    async revoke(@Req() request: unknown, @Param('id') id: string) {
      const [revoked] = await this.keys.revoke(await this.keys.scopeOf(request), [id]);
      return revoked;
    }

    @Post(':id/rotate')
    @HttpCode(200)
    async rotate(@Req() request: unknown, @Param('id') id: string, @Body() body: unknown) {
      return this.keys.rotate(await this.keys.scopeOf(request), id, body);
    }
  }

  return ApiKeyAdminApiController;
}

/** The management API's suspension routes, beside the others: disable and enable one key. */
function createStatusController(path: string, guard: Type<CanActivate> | CanActivate): Type {
  @Controller(`${path}/api/keys`)
  @UseGuards(guard, ApiKeyAdminSameOriginGuard)
  @UseInterceptors(ApiKeyAdminHeadersInterceptor)
  class ApiKeyAdminStatusController {
    constructor(private readonly keys: ApiKeyAdminKeys) {}

    @Post(':id/disable')
    @HttpCode(200)
    async disable(@Req() request: unknown, @Param('id') id: string) {
      return this.keys.setDisabled(await this.keys.scopeOf(request), id, true);
    }

    @Post(':id/enable')
    @HttpCode(200)
    async enable(@Req() request: unknown, @Param('id') id: string) {
      return this.keys.setDisabled(await this.keys.scopeOf(request), id, false);
    }
  }

  return ApiKeyAdminStatusController;
}
