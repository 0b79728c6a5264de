import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Entity } from 'typeorm';
import { AbstractApiKey, createApiKeyGuard } from '../../lib/index.js';

/** A second key type, in its own table, for scenarios that register one beside the default. */
@Entity('partner_api_keys')
export class PartnerApiKey extends AbstractApiKey {}

/** The guard of the `partner` registration. */
export const PartnerApiKeyGuard = createApiKeyGuard<PartnerApiKey>('partner');

/** A user session: `X-User-Token: alice-token` passes, as user `alice`; anything else is refused. */
@Injectable()
export class UserSessionGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest();
    if (request.headers['x-user-token'] !== 'alice-token') return false;
    request.user = { name: 'alice' };
    return true;
  }
}
