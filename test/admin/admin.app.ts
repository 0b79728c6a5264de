import {
  Controller,
  Get,
  Module,
  UnauthorizedException,
  UseGuards,
  type CanActivate,
  type DynamicModule,
  type ExecutionContext,
} from '@nestjs/common';
import { EventEmitterModule } from '@nestjs/event-emitter';
import type { DataSourceOptions } from 'typeorm';
import { Column, Entity } from 'typeorm';
import {
  AbstractApiKey,
  ApiKeyModule,
  CurrentApiKey,
  HmacSha256ApiKeyHasher,
  createApiKeyGuard,
} from '../../lib/index.js';
import { ApiKeyAdminModule, type ApiKeyAdminEvent } from '../../lib/admin/index.js';
import { keyPrefixController, typeOrmFor } from '../support/scenario-app.js';

/** The Basic credentials of the test admin. */
export const ADMIN_AUTH = `Basic ${Buffer.from('admin:secret').toString('base64')}`;

/** Lets in `admin:secret` by HTTP Basic, answering 401 with a challenge otherwise. */
export class TestBasicGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest();
    if (request.headers.authorization !== ADMIN_AUTH) {
      const response = context.switchToHttp().getResponse();
      const set = response.setHeader ?? response.header;
      set.call(response, 'WWW-Authenticate', 'Basic realm="keys"');
      throw new UnauthorizedException();
    }
    request.user = { name: 'admin' };
    return true;
  }
}

/** A key type owned by a tenant, by a plain column. */
@Entity('tenant_api_keys')
export class TenantApiKey extends AbstractApiKey {
  @Column({ name: 'tenant_id', type: 'varchar', length: 36 })
  tenantId!: string;
}

const TenantKeyGuard = createApiKeyGuard<TenantApiKey>('tenant');

@Controller('tenant-ping')
@UseGuards(TenantKeyGuard)
class TenantPingController {
  @Get()
  ping(@CurrentApiKey() apiKey: TenantApiKey) {
    return { prefix: apiKey.prefix, tenantId: apiKey.tenantId };
  }
}

const hasher = new HmacSha256ApiKeyHasher({ secret: 'admin-test-secret-of-32-characters!' });

/**
 * The admin module three ways: default keys at `admin/keys`; tenant keys in owner-scoped mode at
 * `tenant/keys` (the tenant from `X-Tenant`); all tenants' keys in admin mode at `ops/tenant-keys`.
 * Events go to `events`, through `onEvent` and through `@nestjs/event-emitter` (`emitted`).
 */
@Module({})
export class AdminTestModule {
  static register(
    database: DataSourceOptions,
    events: { listened: ApiKeyAdminEvent[] },
    clock: () => Date = () => new Date(),
  ): DynamicModule {
    return {
      module: AdminTestModule,
      imports: [
        typeOrmFor(database),
        EventEmitterModule.forRoot({ wildcard: true }),
        ApiKeyModule.forRoot({ hasher, clock, usageTracking: false }),
        ApiKeyModule.forRoot<TenantApiKey>({ name: 'tenant', entity: TenantApiKey, hasher, clock }),
        ApiKeyAdminModule.forRoot({
          path: 'admin/keys',
          guard: TestBasicGuard,
          onEvent: (event) => void events.listened.push(event),
        }),
        ApiKeyAdminModule.forRoot({
          path: 'tenant/keys',
          guard: new TestBasicGuard(),
          registration: 'tenant',
          ownerColumn: 'tenantId',
          owner: (request) => request.headers['x-tenant'],
          actor: () => 'tenant-user',
          onEvent: (event) => void events.listened.push(event),
        }),
        ApiKeyAdminModule.forRoot({
          path: 'ops/tenant-keys',
          guard: TestBasicGuard,
          registration: 'tenant',
          ownerColumn: 'tenantId',
        }),
      ],
      controllers: [keyPrefixController('ping'), TenantPingController],
    };
  }
}
