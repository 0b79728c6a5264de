/**
 * The dormant-key commands of the `nestjs-api-key` CLI: `list --unused-for` and
 * `revoke --unused-for [--dry-run]`. Like every listing, they never show a key nor its hash.
 */
import type { CliDatabaseCommand, CliUnusedFor } from './args.js';
import { extraColumns } from './columns.js';
import type { CliKeyStore, CliOutput } from './context.js';
import { describeKey, instant, keyRows, printableJson, table } from './format.js';
import type { AbstractApiKey } from '../api-key.entity.js';

type ListCommand = Extract<CliDatabaseCommand, { command: 'list' }> & { unusedFor: CliUnusedFor };
type RevokeCommand = Extract<CliDatabaseCommand, { command: 'revoke-dormant' }>;

/**
 * `list --unused-for`: the usable keys last used (or, never used, created) longer ago.
 *
 * @throws {ApiKeyValidationError} when the registration does not record `lastUsedAt`
 * @throws {ApiKeyStoreUnavailableError} when the keys cannot be read
 */
export async function listDormantKeys(
  command: ListCommand,
  store: CliKeyStore,
  output: CliOutput,
): Promise<void> {
  const keys = await store.service.findDormant({ unusedFor: command.unusedFor.ms });
  if (command.json) {
    output.out(printableJson(describeAll(keys, store)));
    return;
  }
  if (keys.length === 0) {
    output.out(`No active API keys unused for ${command.unusedFor.text}.`);
    return;
  }
  printKeys(keys, store, output);
}

/**
 * `revoke --unused-for`: revokes the keys `list --unused-for` shows, or with `--dry-run` only
 * says which it would revoke.
 *
 * @throws {ApiKeyValidationError} when the registration does not record `lastUsedAt`
 * @throws {ApiKeyStoreUnavailableError} when the keys cannot be read or written
 */
export async function revokeDormantKeys(
  command: RevokeCommand,
  store: CliKeyStore,
  output: CliOutput,
): Promise<void> {
  const { keys, dryRun, cutoff } = await store.service.revokeDormant({
    unusedFor: command.unusedFor.ms,
    dryRun: command.dryRun,
  });
  if (command.json) {
    const described = describeAll(keys, store);
    output.out(printableJson({ dryRun, cutoff: cutoff.toISOString(), keys: described }));
    return;
  }
  const unused = `unused for ${command.unusedFor.text} (since ${instant(cutoff, '')})`;
  if (keys.length === 0) {
    output.out(`No active API keys ${unused}: nothing to revoke.`);
    return;
  }
  const count = `${keys.length} API key${keys.length === 1 ? '' : 's'}`;
  output.out(dryRun ? `Would revoke ${count} ${unused}:` : `Revoked ${count} ${unused}:`);
  printKeys(keys, store, output);
  if (dryRun) output.out('Dry run: nothing was changed.');
}

function describeAll(keys: AbstractApiKey[], { service, metadata }: CliKeyStore) {
  const now = service.options.clock();
  return keys.map((k) => describeKey(k, now, extraColumns(metadata)));
}

function printKeys(keys: AbstractApiKey[], { service, metadata }: CliKeyStore, output: CliOutput) {
  const { headers, rows } = keyRows(keys, service.options.clock(), extraColumns(metadata));
  for (const line of table([headers, ...rows])) output.out(line);
}
