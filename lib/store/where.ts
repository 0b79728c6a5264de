import {
  And,
  Equal,
  InstanceChecker,
  IsNull,
  MoreThan,
  type EntityMetadata,
  type FindOperator,
  type FindOptionsWhere,
} from 'typeorm';
import type { AbstractApiKey } from '../api-key.entity.js';
import { ApiKeyValidationError } from '../api-key.errors.js';
import type { ListApiKeysOptions } from '../api-key.interfaces.js';

/** A property a `where` names that its entity lacks. */
export interface UnknownWhereProperty {
  /** Where it sits in the `where`, e.g. `usableWhere.partner.actve`. */
  path: string;
  /** The entity that lacks it. */
  entity: string;
  /** The property, as written. */
  property: string;
  /** What the entity has instead: its columns, relations and embeddeds. */
  known: string[];
}

/**
 * The first property of a TypeORM `where` that names no column, relation or embedded of its
 * entity, looked for as TypeORM's query builder resolves them, or `null`. Without this check
 * such a `where` fails only when it is queried.
 *
 * Column values and `FindOperator`s (`In`, `Raw`, ...) are leaves; plain objects on relations
 * are followed into the related entity, and on embeddeds into their properties; arrays (OR)
 * are checked element by element.
 *
 * @param path how the `where` is named in the result, e.g. `usableWhere`
 */
export function findUnknownWhereProperty(
  metadata: EntityMetadata,
  where: unknown,
  path: string,
  embeddedPrefix?: string,
): UnknownWhereProperty | null {
  if (Array.isArray(where)) {
    for (const [index, item] of where.entries()) {
      const unknown = findUnknownWhereProperty(metadata, item, `${path}[${index}]`, embeddedPrefix);
      if (unknown) return unknown;
    }
    return null;
  }
  if (!isNestedWhere(where)) return null;
  for (const [property, value] of Object.entries(where)) {
    const propertyPath = embeddedPrefix ? `${embeddedPrefix}.${property}` : property;
    const here = `${path}.${property}`;
    if (metadata.findColumnWithPropertyPathStrict(propertyPath)) continue;
    let unknown: UnknownWhereProperty | null;
    if (metadata.findEmbeddedWithPropertyPath(propertyPath)) {
      unknown = findUnknownWhereProperty(metadata, value, here, propertyPath);
    } else {
      const relation = metadata.findRelationWithPropertyPath(propertyPath);
      if (!relation) {
        return {
          path: here,
          entity: metadata.name,
          property,
          known: known(metadata, embeddedPrefix),
        };
      }
      unknown = findUnknownWhereProperty(relation.inverseEntityMetadata, value, here);
    }
    if (unknown) return unknown;
  }
  return null;
}

/** Whether a `where` value is followed into: a plain object, not an operator, date or buffer. */
function isNestedWhere(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  if (InstanceChecker.isFindOperator(value)) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** The names a `where` may use at this level: columns, relations and embeddeds. */
function known(metadata: EntityMetadata, embeddedPrefix?: string): string[] {
  const start = embeddedPrefix ? `${embeddedPrefix}.` : '';
  const paths = [...metadata.columns, ...metadata.relations, ...metadata.embeddeds]
    .map((property) => property.propertyPath)
    .filter((path) => path.startsWith(start))
    .map((path) => path.slice(start.length).split('.')[0]);
  return [...new Set(paths)];
}

/** The problem and fix sentences of an error about an unknown `where` property. */
export function describeUnknownWhereProperty(unknown: UnknownWhereProperty): {
  problem: string;
  fix: string;
} {
  return {
    problem: `${unknown.path}: ${unknown.entity} has no relation or column "${unknown.property}".`,
    fix: `name one of ${unknown.entity}'s columns or relations (${unknown.known.join(', ')}), or add the relation to the entity.`,
  };
}

/**
 * The `where` of `ApiKeyService.list()`: the caller's `where`, ANDed, with `activeOnly`, with
 * "not revoked, and not expiring or expiring after `now`" (two branches of an OR, each holding
 * the caller's conditions; a condition of the caller's on `revokedAt` or `expiresAt` is kept
 * beside the one added).
 *
 * @throws {ApiKeyValidationError} if `where` is not an object or names what the entity lacks
 */
export function listWhere<T extends AbstractApiKey>(
  metadata: EntityMetadata,
  options: ListApiKeysOptions<T>,
  now: Date,
): FindOptionsWhere<T> | FindOptionsWhere<T>[] | undefined {
  const where: unknown = options.where;
  if (where !== undefined && (typeof where !== 'object' || where === null || Array.isArray(where)))
    throw new ApiKeyValidationError(
      'list({ where }) takes a TypeORM where object, e.g. { partnerId }.',
    );
  const unknown = findUnknownWhereProperty(metadata, where, 'where');
  if (unknown) {
    const { problem, fix } = describeUnknownWhereProperty(unknown);
    throw new ApiKeyValidationError(`list(): ${problem} Fix: ${fix}`);
  }
  if (!options.activeOnly) return options.where;
  const given: Record<string, unknown> = { ...(where as object) };
  const both = (property: 'revokedAt' | 'expiresAt', condition: FindOperator<unknown>) => {
    const own = given[property];
    if (own === undefined) return condition;
    return And(InstanceChecker.isFindOperator(own) ? own : Equal(own), condition);
  };
  const revokedAt = both('revokedAt', IsNull());
  return [
    { ...given, revokedAt, expiresAt: both('expiresAt', IsNull()) },
    { ...given, revokedAt, expiresAt: both('expiresAt', MoreThan(now)) },
  ] as FindOptionsWhere<T>[];
}
