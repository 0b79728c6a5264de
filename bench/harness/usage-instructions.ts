/**
 * `node bench/bench.mjs usage-instructions`: the instructions usage analytics adds to a guarded
 * request, counted by valgrind's callgrind: the same process (an `ApiKeyService` over in-memory
 * SQLite, 10 keys) run twice, once counting no request and once counting 1,000,000 requests with
 * `recordOutcome('ok', id, prefix)` as the guard does; the difference, per request, is printed
 * next to what a whole guarded request costs (bench/README.md, "Instruction counts").
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { ApiKey } from '../../lib/api-key.entity.js';
import { wireApiKeys } from '../../lib/api-key.wiring.js';

const CALLS = 1_000_000;

/** One run: boots the service, then counts `calls` requests of 10 keys. */
async function child(calls: number): Promise<void> {
  const dataSource = await new DataSource({
    type: 'better-sqlite3',
    database: ':memory:',
    entities: [ApiKey],
    synchronize: true,
  }).initialize();
  const { service } = wireApiKeys({ dataSource });
  // Ids and prefixes as fresh strings, as each request's row brings them.
  const keys = Array.from({ length: 10 }, () => ({ id: randomUUID(), prefix: 'AbCd1234' }));
  for (let i = 0; i < calls; i++) {
    const key = keys[i % 10];
    service.recordOutcome('ok', key.id, key.prefix);
  }
  if (calls > 0 && service.outcomeTotals![0] !== calls) throw new Error('miscounted');
  await dataSource.destroy();
}

/** Instructions of a child run under callgrind, from its "Collected" line. */
function instructions(calls: number): number {
  const script = fileURLToPath(import.meta.url);
  const stderr = execFileSync(
    'sh',
    [
      '-c',
      `valgrind --tool=callgrind --callgrind-out-file=/dev/null "${process.execPath}" "${script}" ${calls} 2>&1 >/dev/null`,
    ],
    { encoding: 'utf8', env: { ...process.env, USAGE_CHILD: '1' } },
  );
  const match = /Collected : (\d+)/.exec(stderr);
  if (!match) throw new Error(`callgrind printed no count:\n${stderr.slice(-500)}`);
  return Number(match[1]);
}

if (process.env.USAGE_CHILD === '1') {
  await child(Number(process.argv[2]));
} else {
  const base = instructions(0);
  const counted = instructions(CALLS);
  console.log(
    `usage analytics: ${((counted - base) / CALLS).toFixed(0)} instructions per counted request (runs of ${base} and ${counted} instructions, ${CALLS} requests counted in the second)`,
  );
}
