import type { DynamicModule } from '@nestjs/common';
import { ApiKeyAdminModule, type ApiKeyAdminEvent } from '../../lib/admin/index.js';
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
 * The key admin pages, behind HTTP Basic (`AdminBasicGuard`):
 * - `/admin/keys`: every default key;
 * - `/admin/partners/:partnerId/keys`: owner-scoped mode, one partner's keys only, as a
 *   partner's self-service page would be with the partner taken from its session.
 */
export function sampleKeyAdmin(): DynamicModule[] {
  const guard = new AdminBasicGuard();
  return [
    ApiKeyAdminModule.forRoot({ path: 'admin/keys', guard, onEvent: logKeyEvent }),
    ApiKeyAdminModule.forRoot({
      path: 'admin/partners/:partnerId/keys',
      guard,
      registration: PARTNER_KEYS,
      ownerColumn: 'partnerId',
      owner: (request) => request.params?.partnerId,
      onEvent: logKeyEvent,
    }),
  ];
}
