/**
 * What the orchestrator (`run.ts`, through `apps.ts`) asks a child app (`app.ts`) to be, and
 * the messages they exchange over the IPC channel of `child_process.fork`.
 */

/** Where the keys of an ApiKeyGuard app live. */
export type BenchDatabase =
  | { engine: 'sqlite'; file: string }
  | { engine: 'postgres' | 'mariadb'; options: Record<string, unknown> };

/** Where a throttled app keeps its counters: in its own memory, or in Redis under a prefix of the run's. */
export type BenchThrottle =
  { storage: 'memory' } | { storage: 'redis'; url: string; keyPrefix: string };

/** One app to boot. */
export type BenchScenario =
  | { guard: 'none' }
  /** A guard that checks nothing and allows the request two event-loop turns later, as the key lookup starts its read. */
  | { guard: 'deferred' }
  | { guard: 'passport'; key: string }
  | { guard: 'naive-bcrypt'; hashedKey: string }
  | {
      guard: 'api-key';
      db: BenchDatabase;
      hasher: 'bcrypt' | 'hmac';
      keys: number;
      /** Start the app with `--expose-gc`, so memory can be read after a forced collection (the soak). */
      exposeGc?: boolean;
      /** Count each key's requests with `ApiKeyThrottlerGuard` after the key guard (rows 9a, 9b). */
      throttle?: BenchThrottle;
      /** `ApiKeyModule.forRoot({ revocationSync: 'notify' })` (rows 10–12); default per-request reads. */
      revocationSync?: 'notify';
      /** Also serve the same handler unguarded at OPEN_ROUTE (the same-process rows 11). */
      openRoute?: boolean;
      /** `storeTimeout`, ms: longer than the default under valgrind, which runs the app ~50× slower. */
      storeTimeout?: number;
      /** Policies of the key the app makes at boot, the one its row presents (rows 14a, 14b). */
      keyPolicies?: { allowedIps?: string[]; remaining?: number };
      /** `usageAnalytics: false` (rows 14c, 14d); by default analytics count every request. */
      usageAnalytics?: false;
    }
  | { guard: 'memo-memory'; db: BenchDatabase; keys: number }
  /**
   * The same-process row set (row 13): one app serving the same handler at
   * SAME_PROCESS_ROUTES.open (no guard), `.control` (a guard that reads `Authorization` and lets
   * in), `.roundTrip` (the control, then one shared `SELECT 1` per batch, as the key lookup
   * shares its read) and `.guarded` (`ApiKeyGuard`, bcrypt), with `keys` keys.
   */
  | { guard: 'same-process'; db: BenchDatabase; keys: number; revocationSync?: 'notify' };

/** Child to parent. */
export type ChildMessage =
  | { type: 'ready'; port: number; key?: string; seedMs?: number }
  | { type: 'keys'; keys: string[] }
  | { type: 'cpu'; micros: number }
  | { type: 'memory'; report: MemoMemoryReport }
  | { type: 'revoked' }
  | { type: 'usage'; usage: MemoryUsage }
  | { type: 'error'; message: string };

/** Parent to child. */
export type ParentMessage =
  | { type: 'create-keys'; count: number }
  | { type: 'cpu' }
  | { type: 'stop' }
  /** Soak: one key that expires at `expiresAt` (epoch ms), answered with `keys`. */
  | { type: 'create-expiring-key'; expiresAt: number }
  /** Soak: revoke the key with this prefix through `ApiKeyService.revoke`, answered with `revoked`. */
  | { type: 'revoke-key'; prefix: string }
  /** Soak: the app's memory, after forced collections when it runs with `--expose-gc`. */
  | { type: 'memory-usage' };

/** A child app's `process.memoryUsage()`, in bytes. */
export interface MemoryUsage {
  rss: number;
  heapUsed: number;
  external: number;
  /** Whether the figures were read after forced collections (`--expose-gc`). */
  afterGc: boolean;
}

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
/** The same handler, unguarded (`@SkipApiKey()`), in the apps of the same-process rows. */
export const OPEN_ROUTE = '/open';
/** Header the passport and naive guards read the key from (the ApiKeyGuard rows use the default `Authorization: Api-Key`). */
export const STATIC_KEY_HEADER = 'x-api-key';

/** The routes of the same-process row set's app, all answering with SAME_PROCESS_BODY. */
export const SAME_PROCESS_ROUTES = {
  open: '/open',
  control: '/control',
  roundTrip: '/round-trip',
  guarded: '/guarded',
} as const;
/** What each route of the same-process app answers. */
export const SAME_PROCESS_BODY = { ok: true, items: [1, 2, 3] };
