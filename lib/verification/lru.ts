/**
 * A map bounded to `maxEntries`, evicting the least recently used entry. Insertion order of
 * a `Map` is its recency order: a hit is moved to the end, eviction takes the first.
 */
export class LruMap<K, V> {
  private readonly entries = new Map<K, V>();
  /** The most recently used key: a hit on it is already in place, so it is not moved again. */
  private newest: K | undefined;

  constructor(readonly maxEntries: number) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: K): V | undefined {
    const value = this.entries.get(key);
    // Moving an entry leaves a hole the Map later compacts by reallocating: a key hit on every
    // request, as one busy key is, would reallocate the Map every few hits.
    if (value !== undefined && key !== this.newest) {
      this.newest = key;
      this.entries.delete(key);
      this.entries.set(key, value);
    }
    return value;
  }

  set(key: K, value: V): void {
    if (this.maxEntries <= 0) return;
    this.entries.delete(key);
    this.entries.set(key, value);
    this.newest = key;
    if (this.entries.size > this.maxEntries) {
      this.entries.delete(this.entries.keys().next().value as K);
    }
  }

  delete(key: K): void {
    this.entries.delete(key);
    if (key === this.newest) this.newest = undefined;
  }

  clear(): void {
    this.entries.clear();
    this.newest = undefined;
  }
}
