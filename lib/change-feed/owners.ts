import { InstanceChecker, type EntityMetadata, type FindOperator } from 'typeorm';
import { ApiKeyConfigurationError } from '../api-key.errors.js';
import { USAGE_COLUMN } from './counter.js';

/**
 * A table other than the key's own whose rows `usableWhere` reads (an owner, a join table, a
 * table further along a relation path), and the columns whose change can change its answer.
 */
export interface OwnerTable {
  /** The table's name. */
  table: string;
  /**
   * The columns the condition reads there, the table's primary and foreign key columns, and the
   * columns its joins match on: an UPDATE that changes none of them cannot change the answer.
   */
  columns: string[];
}

type ColumnMetadata = EntityMetadata['columns'][number];
type RelationMetadata = EntityMetadata['relations'][number];

/** The columns read per table, by table name. */
type Reads = Map<string, Set<string>>;

/**
 * The tables besides the key table that `usableWhere` reads, found as TypeORM's query builder
 * follows it: relations (many-to-one, one-to-many, one-to-one, many-to-many with their join
 * table), nested paths, embeddeds and OR arrays. The key table itself is listed too when a
 * relation leads back to it (a key whose usability follows another key's row). Properties the
 * entity lacks are skipped: `findUnknownWhereProperty` refuses them.
 *
 * @throws {ApiKeyConfigurationError} when the condition reads the key's `last_used_at`, whose
 *   changes are not notified
 */
export function ownerTablesOf(metadata: EntityMetadata, usableWhere: unknown): OwnerTable[] {
  const reads: Reads = new Map();
  const reached = new Set<string>();
  readWhere(metadata, usableWhere, reads, reached);
  if (reads.get(metadata.tableName)?.has(USAGE_COLUMN))
    throw new ApiKeyConfigurationError(
      'revocationSync',
      `'notify' cannot follow a usableWhere that reads the key's ${USAGE_COLUMN}: usage writes are not notified.`,
      'drop that condition from usableWhere, or leave revocationSync unset for this registration.',
    );
  return [...reached].map((table) => ({ table, columns: [...reads.get(table)!].sort() }));
}

function readWhere(
  metadata: EntityMetadata,
  where: unknown,
  reads: Reads,
  reached: Set<string>,
  embeddedPrefix?: string,
): void {
  if (Array.isArray(where)) {
    for (const item of where) readWhere(metadata, item, reads, reached, embeddedPrefix);
    return;
  }
  if (!isNestedWhere(where)) return;
  for (const [property, value] of Object.entries(where)) {
    const path = embeddedPrefix ? `${embeddedPrefix}.${property}` : property;
    const column = metadata.findColumnWithPropertyPathStrict(path);
    if (column) read(reads, [column]);
    else if (metadata.findEmbeddedWithPropertyPath(path))
      readWhere(metadata, value, reads, reached, path);
    else {
      const relation = metadata.findRelationWithPropertyPath(path);
      if (relation) follow(relation, value, reads, reached);
    }
  }
}

/** Records what joining along `relation` reads, then what the condition reads beyond it. */
function follow(relation: RelationMetadata, where: unknown, reads: Reads, reached: Set<string>) {
  const target = relation.inverseEntityMetadata;
  const sides = [relation, relation.inverseRelation].filter((side) => side !== undefined);
  const links = sides.flatMap((side) => [...side.joinColumns, ...side.inverseJoinColumns]);
  read(reads, links);
  read(
    reads,
    links.flatMap((link) => (link.referencedColumn ? [link.referencedColumn] : [])),
  );
  const junction = sides.find((side) => side.junctionEntityMetadata)?.junctionEntityMetadata;
  for (const table of junction ? [junction, target] : [target]) {
    read(reads, [...table.primaryColumns, ...table.columns.filter((c) => c.relationMetadata)]);
    reached.add(table.tableName);
  }
  readWhere(target, where, reads, reached);
}

function read(reads: Reads, columns: ColumnMetadata[]): void {
  for (const column of columns) {
    const table = column.entityMetadata.tableName;
    const set = reads.get(table) ?? new Set<string>();
    set.add(column.databaseName);
    reads.set(table, set);
  }
}

/** Whether a `where` value is followed into: a plain object, not an operator, date or buffer. */
function isNestedWhere(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  if (InstanceChecker.isFindOperator(value)) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/**
 * Where `where` holds a `Raw(...)` condition (alone or inside `Not`, `And`, `Or`), e.g.
 * `usableWhere.partner.paidUntil`, or `null`. Raw SQL can read the clock or other tables,
 * which no trigger hears.
 */
export function findRawCondition(where: unknown, path: string): string | null {
  if (Array.isArray(where)) {
    for (const [index, item] of where.entries()) {
      const found = findRawCondition(item, `${path}[${index}]`);
      if (found) return found;
    }
    return null;
  }
  if (InstanceChecker.isFindOperator(where)) return isRaw(where) ? path : null;
  if (!isNestedWhere(where)) return null;
  for (const [property, value] of Object.entries(where)) {
    const found = findRawCondition(value, `${path}.${property}`);
    if (found) return found;
  }
  return null;
}

function isRaw(operator: FindOperator<unknown>): boolean {
  if (operator.type === 'raw' || operator.getSql !== undefined) return true;
  const value: unknown = operator.child ?? operator.value;
  const nested = Array.isArray(value) ? value : [value];
  return nested.some((item) => InstanceChecker.isFindOperator(item) && isRaw(item));
}
