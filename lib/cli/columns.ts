/**
 * The columns a key entity adds to `AbstractApiKey` (its owner's id, say), as the
 * `nestjs-api-key` CLI fills them from `--set` and prints them in listings.
 */
import type { EntityMetadata } from 'typeorm';
import type { AbstractApiKey } from '../api-key.entity.js';
import { MANAGED_FIELDS } from '../store/input.js';
import { POLICY_FIELDS } from '../policies/input.js';
import { CliFailure } from './errors.js';

/** A column of an entity, as TypeORM describes it. */
export type ColumnMetadata = EntityMetadata['columns'][number];
type RelationMetadata = EntityMetadata['relations'][number];

/** Columns every key has, which the CLI prints under names of its own. */
const KEY_COLUMNS: readonly string[] = [
  ...MANAGED_FIELDS,
  ...POLICY_FIELDS,
  'name',
  'scopes',
  'expiresAt',
];
const NUMBER_TYPES = new Set([
  'number',
  'int',
  'int2',
  'int4',
  'integer',
  'smallint',
  'mediumint',
  'tinyint',
  'float',
  'float4',
  'float8',
  'double',
  'double precision',
  'real',
]);

/**
 * The entity's own columns, those it adds to `AbstractApiKey`, in declaration order. Columns
 * never selected are left out: listings show nothing the entity keeps hidden.
 */
export function extraColumns(metadata: EntityMetadata): ColumnMetadata[] {
  return metadata.columns.filter(
    (column) => column.isSelect && !KEY_COLUMNS.includes(column.propertyName),
  );
}

/** The relations whose foreign key is in the key's row (owners), with a one-column id to set them by. */
function ownerRelations(metadata: EntityMetadata): RelationMetadata[] {
  return metadata.manyToOneRelations
    .concat(metadata.oneToOneRelations.filter((r) => r.isOwning))
    .filter((r) => r.inverseEntityMetadata.primaryColumns.length === 1);
}

/**
 * The entity fields `--set column=value` asks for, with values of the column's type; a
 * relation is given its owner's id and set as a reference to it.
 *
 * @throws {CliFailure} naming the columns that can be set, when one is unknown or a value does not fit its type
 */
export function assignedColumns(
  metadata: EntityMetadata,
  assignments: Record<string, string>,
): Record<string, unknown> {
  const columns = extraColumns(metadata);
  const relations = ownerRelations(metadata);
  const fields: Record<string, unknown> = {};
  for (const [name, text] of Object.entries(assignments)) {
    const relation = relations.find((r) => r.propertyName === name);
    const column = columns.find((c) => c.propertyName === name && !c.embeddedMetadata);
    const primary = relation?.inverseEntityMetadata.primaryColumns[0];
    if (primary) fields[name] = { [primary.propertyName]: typedValue(primary, name, text) };
    else if (column) fields[name] = typedValue(column, name, text);
    else throw new CliFailure(unknownColumn(metadata, name));
  }
  return fields;
}

/** The names `--set` can fill on this entity: its own columns and owner relations. */
export function settableColumns(metadata: EntityMetadata): string[] {
  const columns = extraColumns(metadata).filter((column) => !column.embeddedMetadata);
  const relations = ownerRelations(metadata);
  return [...new Set([...columns, ...relations].map((field) => field.propertyName))];
}

function unknownColumn(metadata: EntityMetadata, name: string): string {
  const names = settableColumns(metadata);
  if (KEY_COLUMNS.includes(name))
    return `--set cannot fill "${name}": the CLI sets it itself (use --name, --scopes or --expires where they apply).`;
  return names.length === 0
    ? `${metadata.targetName} has no columns of its own for --set to fill ("${name}" is not one).`
    : `${metadata.targetName} has no column "${name}" that --set can fill; it can fill ${names.join(', ')}.`;
}

/** @throws {CliFailure} when the text is not a number or boolean its column needs */
function typedValue(column: ColumnMetadata, name: string, text: string): unknown {
  const type = (
    typeof column.type === 'function' ? column.type.name : String(column.type)
  ).toLowerCase();
  if (NUMBER_TYPES.has(type)) {
    const number = Number(text);
    if (text.trim() !== '' && Number.isFinite(number)) return number;
    throw new CliFailure(`--set ${name}="${text}": ${name} is a number column.`);
  }
  if (type === 'boolean' || type === 'bool') {
    if (text === 'true' || text === 'false') return text === 'true';
    throw new CliFailure(`--set ${name}="${text}": ${name} is true or false.`);
  }
  return text;
}

/** The entity's own columns of a key as JSON values, by property path. */
export function extraColumnValues(
  apiKey: AbstractApiKey,
  columns: ColumnMetadata[],
): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const column of columns) {
    const value: unknown = column.getEntityValue(apiKey);
    values[column.propertyPath] = value instanceof Date ? value.toISOString() : (value ?? null);
  }
  return values;
}

/** A column's header in a table: `partnerId` becomes `PARTNER ID`. */
export function columnHeader(column: ColumnMetadata): string {
  return column.propertyPath.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toUpperCase();
}
