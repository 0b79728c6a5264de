/**
 * The commands of the `nestjs-api-key` CLI, one function each. A key is printed once, when it
 * is made (`create`, `rotate`); listings never show it nor its hash.
 */
import type { EntityMetadata } from 'typeorm';
import type { CliDatabaseCommand } from './args.js';
import { assignedColumns, extraColumnValues, extraColumns, settableColumns } from './columns.js';
import { listDormantKeys, revokeDormantKeys } from './dormant.js';
import type { CliKeyStore, CliOutput } from './context.js';
import { CliFailure, oneLine } from './errors.js';
import {
  credits,
  describeKey,
  describePolicies,
  instant,
  keyFields,
  keyRows,
  printable,
  printableJson,
  table,
} from './format.js';
import { showUsage } from './usage.js';
import type { AbstractApiKey } from '../api-key.entity.js';
import { ApiKeyNotFoundError, ApiKeyValidationError } from '../api-key.errors.js';

type Command<Name extends CliDatabaseCommand['command']> = Extract<
  CliDatabaseCommand,
  { command: Name }
>;
/** `show`, `revoke`, `disable` and `enable`, which name one key. */
type KeyCommand = Command<'show' | 'revoke' | 'disable' | 'enable'>;

/**
 * Runs a checked command with the application's key service.
 *
 * @throws {ApiKeyNotFoundError} when `show`, `revoke` or `rotate` names no key
 * @throws {ApiKeyValidationError} when the service refuses the name, scopes, expiry or key to
 *   rotate, or `--unused-for` where `lastUsedAt` is not recorded
 * @throws {CliFailure} when `create` cannot fill a `--set` column, or the database refuses the row
 * @throws {ApiKeyStoreUnavailableError} when the database cannot be read or written
 */
export async function runCommand(
  command: CliDatabaseCommand,
  store: CliKeyStore,
  output: CliOutput,
): Promise<void> {
  switch (command.command) {
    case 'create':
      return createKey(command, store, output);
    case 'list':
      return command.unusedFor
        ? listDormantKeys({ ...command, unusedFor: command.unusedFor }, store, output)
        : listKeys(command, store, output);
    case 'show':
      return showKey(command, store, output);
    case 'revoke':
      return revokeKey(command, store, output);
    case 'revoke-dormant':
      return revokeDormantKeys(command, store, output);
    case 'disable':
    case 'enable':
      return setKeyDisabled(command, store, output);
    case 'rotate':
      return rotateKey(command, store, output);
    case 'usage':
      return showUsage(command, store, output);
  }
}

/**
 * `create`: makes a key and prints it, the only time it is ever shown.
 *
 * @throws {ApiKeyValidationError} when the service refuses the name, scopes or expiry
 * @throws {CliFailure} when a `--set` column is unknown, or the database refuses the row (a missing owner, say)
 * @throws {ApiKeyStoreUnavailableError} when the key cannot be stored
 */
export async function createKey(
  command: Command<'create'>,
  { service, metadata }: CliKeyStore,
  output: CliOutput,
): Promise<void> {
  const columns = command.columns ? assignedColumns(metadata, command.columns) : {};
  const created = await service
    .create({
      ...columns,
      name: command.name,
      scopes: command.scopes,
      expiresAt: command.expiresAt,
      ...command.policies,
    })
    .catch((error: unknown) => {
      throw withColumnsHint(error, metadata);
    });
  printNewKey('Created API key', created, { service, metadata }, command.json, output);
}

/** A row the database refused (one without its owner, say), with how `--set` fills the columns. */
function withColumnsHint(error: unknown, metadata: EntityMetadata): unknown {
  const names = settableColumns(metadata);
  // The service's word for a row the database refused, as opposed to input it checked itself.
  const refused =
    error instanceof ApiKeyValidationError && /^The key could not be stored/.test(error.message);
  if (!refused || names.length === 0) return error;
  // The operator's own terminal: the database's words say which constraint the row broke.
  const driver = error.cause ? ` (${oneLine(error.cause)})` : '';
  return new CliFailure(
    `${error.message.replace(/[.\s]*$/, '')}${driver}. Give the key's owner with --set <column>=<value> (${metadata.targetName} has ${names.join(', ')}).`,
  );
}

/**
 * `rotate`: replaces a key with a new one (same name, scopes, expiry and owner), printed once,
 * and says until when the old one works.
 *
 * @throws {ApiKeyNotFoundError} when no key has that id or prefix
 * @throws {ApiKeyValidationError} when the key is revoked or expired
 * @throws {ApiKeyStoreUnavailableError} when the keys cannot be read or written
 */
export async function rotateKey(
  command: Command<'rotate'>,
  store: CliKeyStore,
  output: CliOutput,
): Promise<void> {
  const rotated = await store.service.rotate(command.target, { gracePeriod: command.graceMs });
  const { previous } = rotated;
  const old = describeKey(previous, store.service.options.clock(), extraColumns(store.metadata));
  printNewKey(`Rotated ${previous.prefix}: new API key`, rotated, store, command.json, output, {
    previous: old,
  });
  if (command.json) return;
  output.out(
    previous.revoked
      ? `The old key ${previous.prefix} is revoked.`
      : `The old key ${previous.prefix} keeps working until ${instant(previous.expiresAt, '')}.`,
  );
}

/** Prints a key just made, the only time it is ever shown, as text or JSON (with `more` fields). */
function printNewKey(
  heading: string,
  { apiKey, key }: { apiKey: AbstractApiKey; key: string },
  { service, metadata }: CliKeyStore,
  json: boolean,
  output: CliOutput,
  more: Record<string, unknown> = {},
): void {
  if (json) {
    output.out(
      printableJson({
        ...extraColumnValues(apiKey, extraColumns(metadata)),
        id: apiKey.id,
        prefix: apiKey.prefix,
        name: apiKey.name,
        key,
        scopes: apiKey.scopes,
        expiresAt: apiKey.expiresAt?.toISOString() ?? null,
        createdAt: apiKey.createdAt.toISOString(),
        ...describePolicies(apiKey),
        ...more,
      }),
    );
    return;
  }
  output.out(`${heading} "${printable(apiKey.name)}" (prefix ${apiKey.prefix}, id ${apiKey.id}).`);
  output.out(
    `Scopes: ${apiKey.scopes.join(', ') || '(none)'}. Expires: ${instant(apiKey.expiresAt, 'never')}.`,
  );
  if (apiKey.allowedIps != null || apiKey.remaining != null)
    output.out(
      `Allowed IPs: ${apiKey.allowedIps?.join(', ') ?? 'any'}. Credits: ${credits(apiKey)}.`,
    );
  output.out('');
  output.out(`  ${key}`);
  output.out('');
  const { header, keyword } = service.options;
  const howToSend = header ? `${header}: <key>` : `Authorization: ${keyword} <key>`;
  output.out(
    `This is the only time the key is shown: only its hash is stored. Clients send it as "${howToSend}".`,
  );
}

/**
 * `list`: the usable keys, or every key with `--all`, as a table or JSON.
 *
 * @throws {ApiKeyStoreUnavailableError} when the keys cannot be read
 */
export async function listKeys(
  command: Command<'list'>,
  { service, metadata }: CliKeyStore,
  output: CliOutput,
): Promise<void> {
  const now = service.options.clock();
  const columns = extraColumns(metadata);
  let keys = await service.list({ activeOnly: !command.all });
  if (command.expiringInMs !== undefined) {
    const until = now.getTime() + command.expiringInMs;
    keys = keys.filter((k) => k.expiresAt !== null && k.expiresAt.getTime() <= until);
  }
  if (command.json) {
    output.out(printableJson(keys.map((k) => describeKey(k, now, columns))));
    return;
  }
  if (keys.length === 0) {
    output.out(
      command.all
        ? 'No API keys.'
        : command.expiringInMs !== undefined
          ? 'No active API key expires that soon.'
          : 'No active API keys (list --all shows revoked and expired ones too).',
    );
    return;
  }
  const { headers, rows } = keyRows(keys, now, columns);
  for (const line of table([headers, ...rows])) output.out(line);
}

/**
 * `show`: one key, field by field or as JSON.
 *
 * @throws {ApiKeyNotFoundError} when no key has that id or prefix
 * @throws {ApiKeyStoreUnavailableError} when the key cannot be read
 */
export async function showKey(
  command: KeyCommand,
  { service, metadata }: CliKeyStore,
  output: CliOutput,
): Promise<void> {
  const now = service.options.clock();
  const columns = extraColumns(metadata);
  // With relation ids, an owner known only through its relation is shown by its id.
  const apiKey = await findKey(command.target, service, true);
  if (command.json) {
    output.out(printableJson(describeKey(apiKey, now, columns)));
    return;
  }
  for (const [label, value] of keyFields(apiKey, now, columns))
    output.out(`${`${label}:`.padEnd(Math.max(11, label.length + 2))}${value}`);
}

/**
 * `revoke`: revokes a key for good; a key already revoked keeps its first revocation time.
 *
 * @throws {ApiKeyNotFoundError} when no key has that id or prefix
 * @throws {ApiKeyStoreUnavailableError} when the key cannot be read or written
 */
export async function revokeKey(
  command: KeyCommand,
  { service, metadata }: CliKeyStore,
  output: CliOutput,
): Promise<void> {
  const before = await findKey(command.target, service);
  const apiKey = await service.revoke(before.id);
  if (command.json) {
    output.out(printableJson(describeKey(apiKey, service.options.clock(), extraColumns(metadata))));
    return;
  }
  output.out(
    before.revoked
      ? `API key ${apiKey.prefix} ("${printable(apiKey.name)}") was already revoked at ${instant(apiKey.revokedAt, '')}.`
      : `Revoked API key ${apiKey.prefix} ("${printable(apiKey.name)}"). It is refused from the next request on.`,
  );
}

/**
 * `disable` and `enable`: suspends or resumes a key; doing it again is not an error.
 *
 * @throws {ApiKeyNotFoundError} when no key has that id or prefix
 * @throws {ApiKeyValidationError} when enabling a revoked key
 * @throws {ApiKeyStoreUnavailableError} when the key cannot be read or written
 */
export async function setKeyDisabled(
  command: KeyCommand,
  { service, metadata }: CliKeyStore,
  output: CliOutput,
): Promise<void> {
  const before = await findKey(command.target, service);
  const disable = command.command === 'disable';
  const apiKey = disable ? await service.disable(before.id) : await service.enable(before.id);
  if (command.json) {
    output.out(
      JSON.stringify(describeKey(apiKey, service.options.clock(), extraColumns(metadata))),
    );
    return;
  }
  const name = `API key ${apiKey.prefix} ("${printable(apiKey.name)}")`;
  if (before.disabled === disable)
    output.out(`${name} was already ${disable ? 'disabled' : 'enabled'}.`);
  else
    output.out(
      disable
        ? `Disabled ${name}. It is refused from the next request on, until enabled again.`
        : `Enabled ${name}. It is accepted again from the next request on.`,
    );
}

/** @throws {ApiKeyNotFoundError} when no key has that id or prefix */
async function findKey(
  target: string,
  service: CliKeyStore['service'],
  withRelationIds = false,
): Promise<AbstractApiKey> {
  const apiKey = await service.findOne(target, withRelationIds);
  if (!apiKey) throw new ApiKeyNotFoundError(target);
  return apiKey;
}
