/**
 * The commands of the `nestjs-api-key` CLI, one function each, and how they print keys: never
 * the key itself after `create`, never its hash.
 */
import type { AbstractApiKey } from './api-key.entity.js';
import { ApiKeyNotFoundError } from './api-key.errors.js';
import type { ApiKeyService } from './api-key.service.js';
import type { CliDatabaseCommand } from './api-key.cli-args.js';

/** Where the CLI writes; each call is one line. */
export interface CliOutput {
  out(line: string): void;
  err(line: string): void;
}

type KeyService = ApiKeyService<AbstractApiKey>;
type Command<Name extends CliDatabaseCommand['command']> = Extract<
  CliDatabaseCommand,
  { command: Name }
>;
/** `show` and `revoke`, which name one key. */
type KeyCommand = Command<'show' | 'revoke'>;

/**
 * Runs a checked command with the application's key service.
 *
 * @throws {ApiKeyNotFoundError} when `show` or `revoke` names no key
 * @throws {ApiKeyValidationError} when `create` is given a name, scopes or expiry the service refuses
 * @throws {ApiKeyStoreUnavailableError} when the database cannot be read or written
 */
export async function runCommand(
  command: CliDatabaseCommand,
  service: KeyService,
  output: CliOutput,
): Promise<void> {
  switch (command.command) {
    case 'create':
      return createKey(command, service, output);
    case 'list':
      return listKeys(command, service, output);
    case 'show':
      return showKey(command, service, output);
    case 'revoke':
      return revokeKey(command, service, output);
  }
}

/**
 * `create`: makes a key and prints it, the only time it is ever shown.
 *
 * @throws {ApiKeyValidationError} when the service refuses the name, scopes or expiry
 * @throws {ApiKeyStoreUnavailableError} when the key cannot be stored
 */
export async function createKey(
  command: Command<'create'>,
  service: KeyService,
  output: CliOutput,
): Promise<void> {
  const { apiKey, key } = await service.create({
    name: command.name,
    scopes: command.scopes,
    expiresAt: command.expiresAt,
  });
  if (command.json) {
    output.out(
      JSON.stringify({
        id: apiKey.id,
        prefix: apiKey.prefix,
        name: apiKey.name,
        key,
        scopes: apiKey.scopes,
        expiresAt: apiKey.expiresAt?.toISOString() ?? null,
        createdAt: apiKey.createdAt.toISOString(),
      }),
    );
    return;
  }
  output.out(
    `Created API key "${printable(apiKey.name)}" (prefix ${apiKey.prefix}, id ${apiKey.id}).`,
  );
  output.out(
    `Scopes: ${apiKey.scopes.join(', ') || '(none)'}. Expires: ${instant(apiKey.expiresAt, 'never')}.`,
  );
  output.out('');
  output.out(`  ${key}`);
  output.out('');
  output.out(
    `This is the only time the key is shown: only its hash is stored. Clients send it as "${howToSend(service)}".`,
  );
}

/**
 * `list`: the usable keys, or every key with `--all`, as a table or JSON.
 *
 * @throws {ApiKeyStoreUnavailableError} when the keys cannot be read
 */
export async function listKeys(
  command: Command<'list'>,
  service: KeyService,
  output: CliOutput,
): Promise<void> {
  const now = service.options.clock();
  const keys = await service.list({ activeOnly: !command.all });
  if (command.json) {
    output.out(JSON.stringify(keys.map((k) => describeKey(k, now))));
    return;
  }
  if (keys.length === 0) {
    output.out(
      command.all
        ? 'No API keys.'
        : 'No active API keys (list --all shows revoked and expired ones too).',
    );
    return;
  }
  const rows = keys.map((k) => [
    k.prefix,
    printable(k.name),
    k.scopes.join(',') || '-',
    instant(k.createdAt, '-'),
    k.expiresAt ? `${instant(k.expiresAt, '')}${k.isExpired(now) ? ' (expired)' : ''}` : 'never',
    instant(k.revokedAt, 'no'),
    instant(k.lastUsedAt, 'never'),
  ]);
  const header = ['PREFIX', 'NAME', 'SCOPES', 'CREATED', 'EXPIRES', 'REVOKED', 'LAST USED'];
  for (const line of table([header, ...rows])) output.out(line);
}

/**
 * `show`: one key, field by field or as JSON.
 *
 * @throws {ApiKeyNotFoundError} when no key has that id or prefix
 * @throws {ApiKeyStoreUnavailableError} when the key cannot be read
 */
export async function showKey(
  command: KeyCommand,
  service: KeyService,
  output: CliOutput,
): Promise<void> {
  const now = service.options.clock();
  const apiKey = await findKey(command.target, service);
  if (command.json) {
    output.out(JSON.stringify(describeKey(apiKey, now)));
    return;
  }
  const fields: [string, string][] = [
    ['id', apiKey.id],
    ['prefix', apiKey.prefix],
    ['name', printable(apiKey.name)],
    ['scopes', apiKey.scopes.join(', ') || '(none)'],
    ['status', status(apiKey, now)],
    ['created', instant(apiKey.createdAt, '-')],
    ['expires', instant(apiKey.expiresAt, 'never')],
    ['revoked', instant(apiKey.revokedAt, 'no')],
    ['last used', instant(apiKey.lastUsedAt, 'never')],
  ];
  for (const [label, value] of fields) output.out(`${`${label}:`.padEnd(11)}${value}`);
}

/**
 * `revoke`: revokes a key for good; a key already revoked keeps its first revocation time.
 *
 * @throws {ApiKeyNotFoundError} when no key has that id or prefix
 * @throws {ApiKeyStoreUnavailableError} when the key cannot be read or written
 */
export async function revokeKey(
  command: KeyCommand,
  service: KeyService,
  output: CliOutput,
): Promise<void> {
  const before = await findKey(command.target, service);
  const apiKey = await service.revoke(before.id);
  if (command.json) {
    output.out(JSON.stringify(describeKey(apiKey, service.options.clock())));
    return;
  }
  output.out(
    before.revoked
      ? `API key ${apiKey.prefix} ("${printable(apiKey.name)}") was already revoked at ${instant(apiKey.revokedAt, '')}.`
      : `Revoked API key ${apiKey.prefix} ("${printable(apiKey.name)}"). It is refused from the next request on.`,
  );
}

/** @throws {ApiKeyNotFoundError} when no key has that id or prefix */
async function findKey(target: string, service: KeyService): Promise<AbstractApiKey> {
  const apiKey = await service.findOne(target);
  if (!apiKey) throw new ApiKeyNotFoundError(target);
  return apiKey;
}

/** Text that is safe to print on one line of a terminal: control characters are escaped. */
function printable(text: string): string {
  return text.replace(
    // eslint-disable-next-line no-control-regex -- control characters are exactly what is escaped
    /[\x00-\x1f\x7f-\x9f]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}

function instant(date: Date | null | undefined, none: string): string {
  return date ? date.toISOString().replace(/\.\d{3}Z$/, 'Z') : none;
}

function status(apiKey: AbstractApiKey, now: Date): 'active' | 'revoked' | 'expired' {
  if (apiKey.revoked) return 'revoked';
  return apiKey.isExpired(now) ? 'expired' : 'active';
}

/** What listings show of a key: never the key itself nor its hash. */
function describeKey(apiKey: AbstractApiKey, now: Date) {
  return {
    id: apiKey.id,
    prefix: apiKey.prefix,
    name: apiKey.name,
    scopes: apiKey.scopes,
    createdAt: apiKey.createdAt?.toISOString() ?? null,
    expiresAt: apiKey.expiresAt?.toISOString() ?? null,
    revokedAt: apiKey.revokedAt?.toISOString() ?? null,
    lastUsedAt: apiKey.lastUsedAt?.toISOString() ?? null,
    status: status(apiKey, now),
  };
}

/** Rows as left-aligned columns two spaces apart. */
function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  return rows.map((row) =>
    row
      .map((cell, column) => cell.padEnd(widths[column]))
      .join('  ')
      .trimEnd(),
  );
}

function howToSend(service: KeyService): string {
  const { header, keyword } = service.options;
  return header ? `${header}: <key>` : `Authorization: ${keyword} <key>`;
}
