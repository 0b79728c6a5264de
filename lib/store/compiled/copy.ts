/**
 * Copies of a hydrated key entity, for the further callers of a shared read: each caller gets an
 * entity of its own, and copying the first is several times cheaper than hydrating the raw row
 * again through TypeORM's transformer.
 */
import type { EntityMetadata, ObjectLiteral } from 'typeorm';

/** Makes a caller's own copy of an entity, or `null` when one of its values cannot be copied. */
export type EntityCopier = (entity: ObjectLiteral) => ObjectLiteral | null;

/** Stands for a value {@link copyValue} does not know how to copy. */
const UNCOPYABLE = Symbol('uncopyable');

/**
 * The copier for entities of `metadata`, or `null` where a copy could differ from what hydration
 * makes: embedded objects, lazy relations and value transformers (which may hand out objects of
 * any class). Joined relations and `@AfterLoad()` are the caller's to rule out.
 */
export function entityCopier(metadata: EntityMetadata): EntityCopier | null {
  if (
    metadata.embeddeds.length > 0 ||
    metadata.lazyRelations.length > 0 ||
    metadata.columns.some((column) => column.transformer !== undefined)
  )
    return null;
  const properties = metadata.columns.map((column) => column.propertyName);
  return (entity) => {
    // Built as hydration builds it, so constructors and the data source's `typename` apply alike.
    const copy = metadata.create(undefined, { fromDeserializer: true });
    for (const property of properties) {
      const value = entity[property];
      if (value === undefined) continue;
      const copied = copyValue(value);
      if (copied === UNCOPYABLE) return null;
      copy[property] = copied;
    }
    return copy;
  };
}

/**
 * A deep copy of a hydrated column value: primitives, dates, and the arrays and plain objects of
 * JSON columns. `UNCOPYABLE` for anything else (a Buffer, an object of some class).
 */
function copyValue(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Date) return new Date(value.getTime());
  if (Array.isArray(value)) {
    const copy = new Array(value.length);
    for (let i = 0; i < value.length; i++)
      if ((copy[i] = copyValue(value[i])) === UNCOPYABLE) return UNCOPYABLE;
    return copy;
  }
  const prototype = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return UNCOPYABLE;
  const copy: Record<string, unknown> = prototype === null ? Object.create(null) : {};
  for (const key of Object.keys(value)) {
    // Assigning it would set the copy's prototype instead of a property.
    if (key === '__proto__') return UNCOPYABLE;
    const copied = copyValue((value as Record<string, unknown>)[key]);
    if (copied === UNCOPYABLE) return UNCOPYABLE;
    copy[key] = copied;
  }
  return copy;
}

/**
 * A deep copy of `entity` that no other holder shares, for caches that hand one row to many
 * requests. Unlike the copier it takes every own property (what `@AfterLoad()` set included)
 * and keeps each object's prototype (embedded objects, transformers' values).
 */
export function ownCopy<T extends ObjectLiteral>(entity: T): T {
  return cloneKeepingPrototypes(entity) as T;
}

function cloneKeepingPrototypes(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Date) return new Date(value.getTime());
  if (Buffer.isBuffer(value)) return Buffer.from(value);
  if (Array.isArray(value)) return value.map(cloneKeepingPrototypes);
  // A lazy relation's promise, a map or a set is shared as is: it cannot be copied member-wise.
  if (value instanceof Promise || value instanceof Map || value instanceof Set) return value;
  const copy = Object.create(Object.getPrototypeOf(value));
  for (const key of Object.keys(value)) {
    const copied = cloneKeepingPrototypes((value as Record<string, unknown>)[key]);
    // Assigning `__proto__` would set the copy's prototype instead of a property.
    if (key === '__proto__')
      Object.defineProperty(copy, key, {
        value: copied,
        writable: true,
        enumerable: true,
        configurable: true,
      });
    else copy[key] = copied;
  }
  return copy;
}
