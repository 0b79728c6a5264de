import { describe, expect, it } from 'vitest';
import { LruMap } from './lru.js';

describe('LruMap', () => {
  it('keeps at most maxEntries, evicting the least recently set', () => {
    const map = new LruMap<string, number>(2);
    map.set('a', 1);
    map.set('b', 2);
    map.set('c', 3);
    expect(map.size).toBe(2);
    expect(map.get('a')).toBeUndefined();
    expect(map.get('b')).toBe(2);
    expect(map.get('c')).toBe(3);
  });

  it('counts a read as a use, so a read entry outlives one that was not read', () => {
    const map = new LruMap<string, number>(2);
    map.set('a', 1);
    map.set('b', 2);
    expect(map.get('a')).toBe(1);
    map.set('c', 3);
    expect(map.get('b')).toBeUndefined();
    expect(map.get('a')).toBe(1);
    expect(map.get('c')).toBe(3);
  });

  it('keeps recency right through repeated hits, deletes and re-sets of the newest key', () => {
    const map = new LruMap<string, number>(2);
    map.set('a', 1);
    map.set('b', 2);
    expect(map.get('a')).toBe(1);
    expect(map.get('a')).toBe(1);
    map.delete('a');
    map.set('a', 3);
    expect(map.get('b')).toBe(2);
    expect(map.get('b')).toBe(2);
    map.set('c', 4);
    expect(map.get('a')).toBeUndefined();
    expect(map.get('b')).toBe(2);
    map.clear();
    map.set('d', 5);
    map.set('e', 6);
    expect(map.get('d')).toBe(5);
    map.set('f', 7);
    expect(map.get('e')).toBeUndefined();
  });

  it('replaces the value of an existing key without evicting anything, and makes it the newest', () => {
    const map = new LruMap<string, number>(2);
    map.set('a', 1);
    map.set('b', 2);
    map.set('a', 10);
    expect(map.size).toBe(2);
    map.set('c', 3);
    expect(map.get('a')).toBe(10);
    expect(map.get('b')).toBeUndefined();
  });

  it('stores nothing when maxEntries is 0', () => {
    const map = new LruMap<string, number>(0);
    map.set('a', 1);
    expect(map.size).toBe(0);
    expect(map.get('a')).toBeUndefined();
  });

  it('deletes and clears', () => {
    const map = new LruMap<string, number>(3);
    map.set('a', 1);
    map.set('b', 2);
    map.delete('a');
    map.delete('missing');
    expect(map.get('a')).toBeUndefined();
    expect(map.size).toBe(1);
    map.clear();
    expect(map.size).toBe(0);
    expect(map.get('b')).toBeUndefined();
  });

  it('stays bounded under many distinct keys', () => {
    const map = new LruMap<number, number>(100);
    for (let i = 0; i < 10_000; i++) map.set(i, i);
    expect(map.size).toBe(100);
    expect(map.get(9_899)).toBeUndefined();
    expect(map.get(9_900)).toBe(9_900);
    expect(map.get(9_999)).toBe(9_999);
  });
});
