import {
  Controller,
  Get,
  Injectable,
  Module,
  Req,
  UnauthorizedException,
  UseGuards,
  type CanActivate,
  type DynamicModule,
  type ExecutionContext,
} from '@nestjs/common';
import type { DataSourceOptions } from 'typeorm';
import {
  AllowApiKeyOr,
  ApiKeyGuard,
  ApiKeyModule,
  CurrentApiKey,
  RequireScopes,
  type ApiKey,
} from '../../lib/index.js';
import { FAST_BCRYPT } from '../support/key-store.js';
import { typeOrmFor } from '../support/scenario-app.js';

export interface User {
  name: string;
  admin: boolean;
}

/** The app's users by session token: the dependency both user guards need injected. */
@Injectable()
export class UserDirectory {
  /** Every guard instance that looked a user up, so a test can see which instances served requests. */
  readonly askedBy = new Set<object>();
  private readonly users = new Map<string, User>([
    ['alice-token', { name: 'alice', admin: false }],
    ['root-token', { name: 'root', admin: true }],
  ]);

  find(token: unknown, askedBy: object): User | undefined {
    this.askedBy.add(askedBy);
    return typeof token === 'string' ? this.users.get(token) : undefined;
  }
}

/** A user session in `X-User-Token`. A provider of the app module. */
@Injectable()
export class UserTokenGuard implements CanActivate {
  constructor(private readonly users: UserDirectory) {}

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest();
    const user = this.users.find(request.headers['x-user-token'], this);
    // Its own message, so a test can tell which guard of an AND refused.
    if (!user) throw new UnauthorizedException('A user session is required.');
    request.user = user;
    return true;
  }
}

/** An admin session. Deliberately a provider nowhere, so `@AllowApiKeyOr()` must build it with its dependency. */
@Injectable()
export class AdminTokenGuard implements CanActivate {
  constructor(private readonly users: UserDirectory) {}

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest();
    const user = this.users.find(request.headers['x-user-token'], this);
    if (!user?.admin) return false;
    request.user = user;
    return true;
  }
}

/** Who got in: the key's prefix and the user's name, each `null` when that way was not used. */
function who(apiKey: ApiKey | undefined, request: { user?: User }) {
  return { key: apiKey?.prefix ?? null, user: request.user?.name ?? null };
}

@Controller()
export class CompositionController {
  /** AND: a key and a user session. */
  @Get('both')
  @UseGuards(ApiKeyGuard, UserTokenGuard)
  both(@CurrentApiKey() apiKey: ApiKey, @Req() request: { user?: User }) {
    return who(apiKey, request);
  }

  /** OR: DRF's `HasAPIKey | IsAuthenticated`. */
  @Get('either')
  @AllowApiKeyOr(UserTokenGuard)
  either(@CurrentApiKey() apiKey: ApiKey | undefined, @Req() request: { user?: User }) {
    return who(apiKey, request);
  }

  @Get('either/scoped')
  @AllowApiKeyOr(UserTokenGuard)
  @RequireScopes('reports:read')
  eitherScoped(@CurrentApiKey() apiKey: ApiKey | undefined, @Req() request: { user?: User }) {
    return who(apiKey, request);
  }

  @Get('admin-or-key')
  @AllowApiKeyOr(AdminTokenGuard)
  adminOrKey(@CurrentApiKey() apiKey: ApiKey | undefined, @Req() request: { user?: User }) {
    return who(apiKey, request);
  }
}

@Module({})
export class CompositionAppModule {
  static register(database: DataSourceOptions): DynamicModule {
    return {
      module: CompositionAppModule,
      imports: [typeOrmFor(database), ApiKeyModule.forRoot({ hasher: FAST_BCRYPT })],
      controllers: [CompositionController],
      providers: [UserDirectory, UserTokenGuard],
    };
  }
}
