import type { DynamicModule } from '@nestjs/common';
import {
  ApiKeyAdminModule,
  type ApiKeyAdminEvent,
  type ApiKeyOwnerPolicy,
} from '../../lib/admin/index.js';
import { PARTNER_KEYS } from '../partners/partners.controller.js';
import { AdminBasicGuard } from './admin-basic.guard.js';

/** One audit line per event on stdout: the key's id, prefix and name, never the key. */
export function logKeyEvent(event: ApiKeyAdminEvent): void {
  const fields = {
    id: event.id,
    prefix: event.prefix,
    name: event.name,
    owner: event.owner,
    actor: event.actor,
    at: event.at.toISOString(),
  };
  process.stdout.write(`audit api-key.${event.type} ${JSON.stringify(fields)}\n`);
}

/**
 * The key admin pages, behind HTTP Basic (`AdminBasicGuard`, limited by IP):
 * - `/admin/keys`: every default key;
 * - `/admin/partners/:partnerId/keys`: owner-scoped mode, one partner's keys only, as a
 *   partner's self-service page would be with the partner taken from its session, under
 *   `PARTNER_KEY_POLICY`.
 */
export function sampleKeyAdmin(): DynamicModule[] {
  // A class: Nest builds it with the throttler's storage, which limits sign-in attempts by IP.
  const guard = AdminBasicGuard;
  return [
    ApiKeyAdminModule.forRoot({ path: 'admin/keys', guard, onEvent: logKeyEvent }),
    ApiKeyAdminModule.forRoot({
      path: 'admin/partners/:partnerId/keys',
      guard,
      registration: PARTNER_KEYS,
      ownerColumn: 'partnerId',
      owner: (request) => request.params?.partnerId,
      // What a partner may do to its own keys, as its self-service page would allow.
      ownerPolicy: PARTNER_KEY_POLICY,
      onEvent: logKeyEvent,
    }),
  ];
}

/** Partners grant only order scopes, and hold at most 10 active keys. */
export const PARTNER_KEY_POLICY: ApiKeyOwnerPolicy = {
  grantableScopes: ['orders:read', 'orders:write'],
  maxActiveKeys: 10,
};
