import { existsSync } from 'node:fs';
import net from 'node:net';

/**
 * The servers and programs the suite uses besides Node and SQLite, where each one is (the
 * environment names below, as the README's "Running the tests" gives them), and which specs
 * need it. PostgreSQL is not among them: where none answers, the global setup starts an
 * embedded one (test/support/embedded-postgres.ts), so its specs always run.
 */
export interface OptionalService {
  name: 'MariaDB' | 'Redis' | 'Chromium';
  /** `host:port` or a file path, for the summary. */
  where: string;
  /**
   * Matches the full name (file's describe blocks and test) of every test that needs it; those
   * tests are named so (`… on mariadb`, `… in Redis …`, `… (Chromium)`).
   */
  tests: RegExp;
  /** How to get it, for the summary. */
  howToGet: string;
  /** Whether it answers: a port that accepts a connection, a file that exists. */
  present(): Promise<boolean>;
}

/** The Redis the suite uses: `REDIS_URL`, `redis://127.0.0.1:6379` by default. */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Debian's Chromium, headless, unless `CHROMIUM_PATH` names another. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** A port nothing listens on now, from the kernel. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Whether something accepts a TCP connection on `host:port` within a second. */
export function answers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: 1000 });
    const done = (up: boolean) => {
      socket.destroy();
      resolve(up);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}

const mariadbHost = process.env.MYSQL_HOST ?? '127.0.0.1';
const mariadbPort = Number(process.env.MYSQL_PORT ?? 3306);
const redis = new URL(REDIS_URL);

/** MariaDB, Redis and Chromium, in the order the summary names them. */
export const OPTIONAL_SERVICES: readonly OptionalService[] = [
  {
    name: 'MariaDB',
    where: `${mariadbHost}:${mariadbPort} (MYSQL_HOST, MYSQL_PORT)`,
    tests: /\bmariadb\b/i,
    howToGet:
      'docker run -d -p 3306:3306 -e MARIADB_ALLOW_EMPTY_ROOT_PASSWORD=1 -e MARIADB_DATABASE=test mariadb:10.11',
    present: () => answers(mariadbHost, mariadbPort),
  },
  {
    name: 'Redis',
    where: `${REDIS_URL} (REDIS_URL)`,
    tests: /\bredis/i,
    howToGet: 'docker run -d -p 6379:6379 redis:7',
    present: () => answers(redis.hostname, Number(redis.port || 6379)),
  },
  {
    name: 'Chromium',
    where: `${CHROMIUM_PATH} (CHROMIUM_PATH)`,
    tests: /\bChromium\b/,
    howToGet: 'apt-get install chromium, or set CHROMIUM_PATH to a Chrome or Chromium binary',
    present: async () => existsSync(CHROMIUM_PATH),
  },
];

/** The optional services that are not there, found once per process. */
let missing: Promise<OptionalService[]> | undefined;
export function missingServices(): Promise<OptionalService[]> {
  missing ??= Promise.all(
    OPTIONAL_SERVICES.map(async (s) => ((await s.present()) ? [] : [s])),
  ).then((found) => found.flat());
  return missing;
}

/** Whether this run is CI's (`CI=true`), where nothing may be left out. */
export const IN_CI = process.env.CI === 'true' || process.env.CI === '1';

/**
 * The test name pattern that leaves out the tests of the missing services: a full name must
 * match none of their patterns. `undefined` when nothing is missing.
 */
export function patternRunningOnlyPresent(absent: readonly OptionalService[]): RegExp | undefined {
  if (absent.length === 0) return undefined;
  // Each pattern is written for this lookahead: no anchors, no flags but `i` on the whole.
  const any = absent.map((service) => service.tests.source).join('|');
  return new RegExp(`^(?![\\s\\S]*(?:${any}))`, 'i');
}
