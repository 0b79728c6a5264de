/**
 * `node bench/bench.mjs usage-memory`: the memory usage analytics holds when 1,000,000 distinct
 * keys are used within one flush interval, with the default bound (100,000 keys, the rest
 * dropped while no write takes them out) and with the bound raised to hold them all. Key ids are
 * made inside the loop, as each request's row brings its own, so the strings the tally keeps are
 * charged to it. Also the size of one flush's statement for the default bound.
 */
import { randomUUID } from 'node:crypto';
import { UsageTally, batchRows } from '../../lib/usage/tally.js';
import { upsertStatement } from '../../lib/usage/sql.js';

const KEYS = 1_000_000;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('Run with node --expose-gc (bench/bench.mjs does).');

function heapAfterGc(): number {
  gc!();
  gc!();
  return process.memoryUsage().heapUsed;
}

function measure(maxPendingKeys: number): { held: number; dropped: number; bytes: number } {
  const tally = new UsageTally({
    registration: 'default',
    maxPendingKeys,
    clock: () => new Date(),
  });
  const before = heapAfterGc();
  // A fresh flat string per id, as a driver reads it (randomUUID's may share a buffer).
  for (let i = 0; i < KEYS; i++) tally.count(Buffer.from(randomUUID()).toString('latin1'), 'ok');
  const bytes = heapAfterGc() - before;
  const held = tally.pendingKeys;
  const { batch, dropped } = tally.take();
  if (maxPendingKeys <= 100_000 && batch) {
    const statement = upsertStatement('sqlite', batchRows(batch));
    const json = String(statement.parameters[0]).length;
    console.log(`one flush of ${held} keys: a ${(json / 1e6).toFixed(1)} MB JSON parameter`);
  }
  return { held, dropped, bytes };
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
for (const bound of [100_000, KEYS]) {
  const { held, dropped, bytes } = measure(bound);
  console.log(
    `maxPendingKeys ${bound}: ${KEYS} distinct keys counted, ${held} held, ${dropped} requests dropped, heap +${mb(bytes)} (${Math.round(bytes / held)} bytes per key held)`,
  );
}
