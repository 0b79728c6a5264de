/**
 * What every command of the `nestjs-api-key` CLI works with: where it writes, and the
 * application's key store.
 */
import type { EntityMetadata } from 'typeorm';
import type { AbstractApiKey } from '../api-key.entity.js';
import type { ApiKeyService } from '../api-key.service.js';

/** Where the CLI writes; each call is one line. */
export interface CliOutput {
  out(line: string): void;
  err(line: string): void;
}

/** What the commands work with: the application's key service and its entity's metadata. */
export interface CliKeyStore {
  service: ApiKeyService<AbstractApiKey>;
  metadata: EntityMetadata;
}
