/**
 * What the orchestrator (`run.ts`, through `apps.ts`) asks a child app (`app.ts`) to be, and
 * the messages they exchange over the IPC channel of `child_process.fork`.
 */

/** Where the keys of an ApiKeyGuard app live. */
export type BenchDatabase =
  { engine: 'sqlite'; file: string } | { engine: 'postgres'; options: Record<string, unknown> };

/** One app to boot. */
export type BenchScenario =
  | { guard: 'none' }
  /** A guard that checks nothing and allows the request two event-loop turns later, as the key lookup starts its read. */
  | { guard: 'deferred' }
  | { guard: 'passport'; key: string }
  | { guard: 'naive-bcrypt'; hashedKey: string }
  | { guard: 'api-key'; db: BenchDatabase; hasher: 'bcrypt' | 'hmac'; keys: number }
  | { guard: 'memo-memory'; db: BenchDatabase; keys: number };

/** Child to parent. */
export type ChildMessage =
  | { type: 'ready'; port: number; key?: string; seedMs?: number }
  | { type: 'keys'; keys: string[] }
  | { type: 'cpu'; micros: number }
  | { type: 'memory'; report: MemoMemoryReport }
  | { type: 'error'; message: string };

/** Parent to child. */
export type ParentMessage =
  { type: 'create-keys'; count: number } | { type: 'cpu' } | { type: 'stop' };

/** Heap cost of memoised verifications, measured in a child started with `--expose-gc`. */
export interface MemoMemoryReport {
  entries: number;
  /** Filled through `ApiKeyService.verify()` of distinct live keys (HMAC hasher, SQLite). */
  servicePath: { heapBytes: number; externalBytes: number; memoSize: number };
  /** Filled directly into an `LruMap` with the memo's entry shape and a bcrypt-length hash. */
  entryShape: { heapBytes: number; externalBytes: number };
}

/** The route every app serves, guarded or not, with the same handler. */
export const BENCH_ROUTE = '/hello';
/** Header the passport and naive guards read the key from (the ApiKeyGuard rows use the default `Authorization: Api-Key`). */
export const STATIC_KEY_HEADER = 'x-api-key';
