import type { DataSource, EntitySubscriberInterface, UpdateEvent } from 'typeorm';
import { ApiKeyRevocationError } from '../api-key.errors.js';

/**
 * Refuses, through TypeORM, any update that would clear `revokedAt` on a key: a `save()` of a
 * loaded revoked entity, or a query-builder/repository `update()` that sets `revokedAt` to null.
 * `wireApiKeys` registers one per key entity on its data source.
 */
export class ApiKeyRevocationSubscriber implements EntitySubscriberInterface {
  constructor(private readonly entity: Function) {}

  listenTo(): Function {
    return this.entity;
  }

  beforeUpdate(event: UpdateEvent<any>): void {
    const next = event.entity as Record<string, unknown> | undefined;
    if (!next || !('revokedAt' in next) || next.revokedAt != null) return;
    // save() loads the stored row; update() has none, and clearing revokedAt there is never legitimate.
    if (event.databaseEntity === undefined || event.databaseEntity?.revokedAt != null) {
      throw new ApiKeyRevocationError((next.id ?? event.databaseEntity?.id) as string | undefined);
    }
  }
}

/**
 * Adds an `ApiKeyRevocationSubscriber` for `entity` to `dataSource` unless one is there already:
 * an entity wired twice (two registrations, or a script run beside the app) is guarded once.
 */
export function registerRevocationSubscriber(dataSource: DataSource, entity: Function): void {
  const registered = dataSource.subscribers.some(
    (subscriber) =>
      subscriber instanceof ApiKeyRevocationSubscriber && subscriber.listenTo() === entity,
  );
  if (!registered) dataSource.subscribers.push(new ApiKeyRevocationSubscriber(entity));
}
