/**
 * Row 13, the same-process row set (issue 26): what a user of one app sees. Per engine and mode
 * one Nest app serves the same handler on four routes: open, behind a control guard that only
 * reads `Authorization` and lets in, behind the round-trip control (the control, then one
 * `SELECT 1` shared per batch of requests, as the key lookup shares its read), and behind
 * `ApiKeyGuard` (bcrypt, SAME_PROCESS_KEYS keys). autocannon drives each route for WARMUP seconds
 * (discarded), then ROUNDS rounds of one window of ROUND_WINDOW seconds per route, the order
 * rotating by one route each round, so that no route always follows the same one. Each round
 * gives each guarded route's req/s ÷ open's from windows seconds apart on the same process; a row
 * reports their medians, and the medians of the rounds' p99 differences. The control says how
 * far the machine lets two routes of one app differ when the guard does next to nothing; the
 * round-trip control, what one database round trip per batch costs, the floor of any guard that
 * reads the store for each request.
 */
import { appCpu, mariadbDb, postgresDb, sqliteDb, type AppPool } from '../apps/apps.js';
import { SAME_PROCESS_ROUTES, type BenchDatabase } from '../apps/scenario.js';
import { answeredCount, apiKeyHeaders, load } from '../harness/load.js';
import { positiveFromEnv, WARMUP, wanted } from '../harness/settings.js';
import { median, percentile, pooled } from '../harness/stats.js';

/** Keys in the table of the row set's apps. */
export const SAME_PROCESS_KEYS = 200;
/** Rounds of one window per route (`BENCH_ROUNDS`). */
export const ROUNDS = positiveFromEnv('BENCH_ROUNDS', 5);
/** Seconds per window (`BENCH_ROUND_WINDOW`). */
export const ROUND_WINDOW = positiveFromEnv('BENCH_ROUND_WINDOW', 4);

/** The routes, in the order of the first round. */
export const ROUTES = ['open', 'control', 'roundTrip', 'guarded'] as const;
export type RouteName = (typeof ROUTES)[number];
/** The routes compared with the open one, in the order the report gives them. */
export const COMPARED_ROUTES = ['guarded', 'control', 'roundTrip'] as const;
export type ComparedRoute = (typeof COMPARED_ROUTES)[number];
/** How the console and the report name each compared route. */
export const ROUTE_LABELS: Record<ComparedRoute, string> = {
  guarded: 'guarded',
  control: 'control',
  roundTrip: 'round trip',
};

/** One engine and mode of the row set. */
export interface SameProcessSetup {
  id: string;
  engine: string;
  notify: boolean;
  database: () => Promise<BenchDatabase>;
}

/** Every engine and mode, in the order they run: `BENCH_ONLY=13` runs all, `13c` one. */
export const SAME_PROCESS_SETUPS: SameProcessSetup[] = [
  { id: '13a', engine: 'SQLite', notify: false, database: async () => sqliteDb('13a') },
  { id: '13b', engine: 'SQLite', notify: true, database: async () => sqliteDb('13b') },
  { id: '13c', engine: 'PostgreSQL', notify: false, database: postgresDb },
  { id: '13d', engine: 'PostgreSQL', notify: true, database: postgresDb },
  { id: '13e', engine: 'MariaDB', notify: false, database: mariadbDb },
  { id: '13f', engine: 'MariaDB', notify: true, database: mariadbDb },
];

/** What one route's windows add up to. */
export interface RouteTally {
  /** req/s (2xx) of each round's window. */
  rps: number[];
  /** p99 of each round's window, ms. */
  p99: number[];
  /** Latencies of every window, ms, for pooled percentiles. */
  latencies: Float64Array[];
  /** App CPU time during the route's windows, µs, and the answers given in them. */
  cpuMicros: number;
  answered: number;
  /** Answers that were not 2xx, socket errors and timeouts. */
  failures: number;
}

/** One engine and mode, measured. */
export interface SameProcessResult {
  setup: Omit<SameProcessSetup, 'database'>;
  routes: Record<RouteName, RouteTally>;
  /** Per compared route, per round: its req/s ÷ open's. */
  ratios: Record<ComparedRoute, number[]>;
  /** Per compared route, per round: its p99 minus open's (ms). */
  p99Added: Record<ComparedRoute, number[]>;
}

/** An empty list per compared route. */
const perComparedRoute = (): Record<ComparedRoute, number[]> => ({
  guarded: [],
  control: [],
  roundTrip: [],
});

const emptyTally = (): RouteTally => ({
  rps: [],
  p99: [],
  latencies: [],
  cpuMicros: 0,
  answered: 0,
  failures: 0,
});

/** The routes in the order of round `round`: the first round's, rotated by `round`. */
export const roundOrder = (round: number): RouteName[] =>
  ROUTES.map((_, i) => ROUTES[(i + round) % ROUTES.length]);

/** Whether any setup of the row set is wanted. */
export const wantsSameProcessSet = (): boolean => SAME_PROCESS_SETUPS.some((s) => wanted(s.id));

/** A row's label: engine and mode. */
export const setupLabel = (setup: Pick<SameProcessSetup, 'engine' | 'notify'>): string =>
  `${setup.engine}, ${setup.notify ? "revocationSync: 'notify'" : 'default (read per request)'}`;

/** Boots one setup's app, measures its routes, and stops it. */
export async function measureSetup(
  setup: SameProcessSetup,
  boot: AppPool['boot'],
): Promise<SameProcessResult> {
  const { database, ...described } = setup;
  const app = await boot(
    {
      guard: 'same-process',
      db: await database(),
      keys: SAME_PROCESS_KEYS,
      ...(setup.notify ? { revocationSync: 'notify' as const } : {}),
    },
    `${setup.id}. ${setupLabel(setup)}`,
  );
  try {
    const origin = new URL(app.url).origin;
    // Every route gets the same header, so that they differ by their guard alone.
    const headers = apiKeyHeaders(app.key!);
    const drive = (route: RouteName, duration: number) =>
      load({ url: `${origin}${SAME_PROCESS_ROUTES[route]}`, headers, duration });
    process.stdout.write(
      `  ${setup.id}. ${setupLabel(setup)}: warm-up ${WARMUP} s per route, ${ROUNDS} rounds of ${ROUND_WINDOW} s windows ... `,
    );
    for (const route of ROUTES) await drive(route, WARMUP);
    const routes = {
      open: emptyTally(),
      control: emptyTally(),
      roundTrip: emptyTally(),
      guarded: emptyTally(),
    };
    const result: SameProcessResult = {
      setup: described,
      routes,
      ratios: perComparedRoute(),
      p99Added: perComparedRoute(),
    };
    for (let round = 0; round < ROUNDS; round++) {
      const rps = {} as Record<RouteName, number>;
      const p99 = {} as Record<RouteName, number>;
      for (const route of roundOrder(round)) {
        const before = await appCpu(app);
        const window = await drive(route, ROUND_WINDOW);
        const tally = routes[route];
        tally.cpuMicros += (await appCpu(app)) - before;
        tally.answered += answeredCount(window);
        tally.failures += window.failures;
        tally.latencies.push(window.latencies);
        rps[route] = window.ok / window.seconds;
        p99[route] = percentile(window.latencies, 99);
        tally.rps.push(rps[route]);
        tally.p99.push(p99[route]);
      }
      for (const route of COMPARED_ROUTES) {
        result.ratios[route].push(rps[route] / rps.open);
        result.p99Added[route].push(p99[route] - p99.open);
      }
    }
    const medians = COMPARED_ROUTES.map(
      (route) => `${ROUTE_LABELS[route]} ${median(result.ratios[route]).toFixed(3)}`,
    );
    console.log(`${medians.join(', ')} of open (${Math.round(median(routes.open.rps))} req/s)`);
    return result;
  } finally {
    await app.stop();
  }
}

/** A route's pooled p50 and p99, ms. */
export function pooledPercentiles(tally: RouteTally): { p50: number; p99: number } {
  const all = pooled(tally.latencies);
  return { p50: percentile(all, 50), p99: percentile(all, 99) };
}
