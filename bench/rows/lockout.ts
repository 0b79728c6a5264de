/**
 * Issue 25's lockout, timed (`npm run bench:lockout`, or `node bench/bench.mjs lockout
 * [sqlite|postgres|mariadb ...] [--untagged]`). Self-contained: it forks itself as the app.
 *
 * For each engine, an app (Express, the default bcrypt at cost 10) holds two keys that have
 * never verified in it. Then:
 *
 * 1. **Flood.** 300 requests a second carry the first key's public prefix and random secrets,
 *    for `LOCKOUT_SECONDS` (10); from the second second on, the key's own requests go at 20 a
 *    second. Target: at least 99% of them get 200, with a median under 50 ms.
 * 2. **Oracle.** 200 wrong secrets for the second key's prefix and 200 for unknown prefixes,
 *    alternated, one at a time. Target: medians within 1 ms.
 * 3. **CPU.** The app's CPU time under the same flood at unknown prefixes, then at the second
 *    key's prefix. Target: no more at the known prefix (10% allowed for noise).
 *
 * `--untagged` clears the keys' tags first, as for keys stored before tags: what the issue
 * measured. Exits 1 when a target is missed.
 */
import { fork } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import 'reflect-metadata';
import { Controller, Get, Module, UseGuards } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { ApiKeyGuard, ApiKeyModule, ApiKeyService } from '../../lib/index.js';
import { generateKey } from '../../lib/keys/format.js';
import { createTestDatabase, ENGINES, type Engine } from '../../test/support/databases.js';

const FLOOD_RATE = 300;
const OWN_RATE = 20;
const SECONDS = Number(process.env.LOCKOUT_SECONDS ?? 10);
const ORACLE_TRIES = 200;

/** What the app tells the bench once it listens. */
interface Ready {
  type: 'ready';
  url: string;
  flooded: { prefix: string; key: string };
  probed: { prefix: string };
}

// ---- The app (the forked child) ----

@Controller('data')
@UseGuards(ApiKeyGuard)
class DataController {
  @Get()
  data() {
    return { ok: true };
  }
}

async function runApp(database: DataSourceOptions, untagged: boolean): Promise<void> {
  @Module({
    imports: [
      TypeOrmModule.forRoot({ ...database, autoLoadEntities: true, synchronize: true } as never),
      ApiKeyModule.forRoot(),
    ],
    controllers: [DataController],
  })
  class AppModule {}
  const app = await NestFactory.create(AppModule, new ExpressAdapter(), { logger: false });
  await app.listen(0, '127.0.0.1');
  const service = app.get(ApiKeyService);
  const flooded = await service.create({ name: 'flooded' });
  const probed = await service.create({ name: 'probed' });
  if (untagged) {
    const dataSource = app.get(DataSource);
    await dataSource.query(`UPDATE ${dataSource.driver.escape('api_keys')} SET secret_tag = NULL`);
  }
  process.on('message', (message: { type: string }) => {
    if (message.type === 'cpu') {
      const { user, system } = process.cpuUsage();
      process.send!({ type: 'cpu', ms: (user + system) / 1000 });
    }
  });
  const ready: Ready = {
    type: 'ready',
    url: (await app.getUrl()).replace('[::1]', '127.0.0.1'),
    flooded: { prefix: flooded.apiKey.prefix, key: flooded.key },
    probed: { prefix: probed.apiKey.prefix },
  };
  process.send!(ready);
}

// ---- The bench (the parent) ----

/** One GET of `/data` with the key; its status and how long its answer took, in ms. */
function get(url: string, agent: http.Agent, key: string): Promise<{ status: number; ms: number }> {
  const start = performance.now();
  return new Promise((resolve) => {
    const request = http.get(
      `${url}/data`,
      { agent, headers: { authorization: `Api-Key ${key}` }, timeout: 30_000 },
      (response) => {
        response.resume();
        response.on('end', () =>
          resolve({ status: response.statusCode!, ms: performance.now() - start }),
        );
      },
    );
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', () => resolve({ status: 0, ms: performance.now() - start }));
  });
}

/** Calls `send` `rate` times a second for `seconds`, whatever the answers take; waits for all. */
async function openLoop<R>(rate: number, seconds: number, send: () => Promise<R>): Promise<R[]> {
  const pending: Promise<R>[] = [];
  const total = Math.round(rate * seconds);
  const start = performance.now();
  while (pending.length < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate) + 1);
    while (pending.length < due) pending.push(send());
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return Promise.all(pending);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

const wrongSecretFor = (prefix: string) => `${prefix}.${generateKey().key.slice(9)}`;
const unknownPrefix = () => wrongSecretFor(generateKey().prefix);

/** Runs the three measurements on one engine; returns whether every target was met. */
async function benchEngine(engine: Engine): Promise<boolean> {
  const db = engine === 'sqlite' ? null : await createTestDatabase(engine);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nestjs-api-key-lockout-'));
  const database: DataSourceOptions = db
    ? db.options
    : { type: 'better-sqlite3', database: path.join(dir, 'keys.sqlite') };
  const child = fork(fileURLToPath(import.meta.url), ['app'], {
    env: { ...process.env, LOCKOUT_DATABASE: JSON.stringify(database) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const ownAgent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  try {
    const ready = await new Promise<Ready>((resolve, reject) => {
      child.once('message', (message) => resolve(message as Ready));
      child.once('exit', (code) => reject(new Error(`the app exited with ${code}`)));
    });
    const cpu = () =>
      new Promise<number>((resolve) => {
        child.once('message', (message: any) => resolve(message.ms));
        child.send({ type: 'cpu' });
      });
    const { url, flooded, probed } = ready;

    // 1. Flood at the first key's prefix; its own requests from the second second on.
    const flood = openLoop(FLOOD_RATE, SECONDS, () =>
      get(url, agent, wrongSecretFor(flooded.prefix)),
    );
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const own = await openLoop(OWN_RATE, SECONDS - 1, () => get(url, ownAgent, flooded.key));
    const floodAnswers = await flood;
    const passed = own.filter((answer) => answer.status === 200).length / own.length;
    const ownMedian = median(own.map((answer) => answer.ms));
    const floodOk = passed >= 0.99 && ownMedian < 50;
    console.log(
      `${engine}: flood ${FLOOD_RATE}/s x ${SECONDS} s: the key's own requests ${own.filter((a) => a.status === 200).length}/${own.length} got 200 (${(passed * 100).toFixed(1)}%), median ${ownMedian.toFixed(2)} ms; ` +
        `flood answers ${JSON.stringify(countStatuses(floodAnswers))} ${floodOk ? 'OK' : 'MISSED'}`,
    );

    // 2. The oracle: wrong secrets for a live, never-verified prefix against unknown prefixes.
    const live: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 50; i++) {
      await get(url, ownAgent, unknownPrefix());
      await get(url, ownAgent, wrongSecretFor(probed.prefix));
    }
    for (let i = 0; i < ORACLE_TRIES; i++) {
      unknown.push((await get(url, ownAgent, unknownPrefix())).ms);
      live.push((await get(url, ownAgent, wrongSecretFor(probed.prefix))).ms);
    }
    const gap = median(live) - median(unknown);
    const oracleOk = Math.abs(gap) < 1;
    console.log(
      `${engine}: oracle over ${ORACLE_TRIES} tries each: live prefix median ${median(live).toFixed(3)} ms, unknown prefix ${median(unknown).toFixed(3)} ms, gap ${gap.toFixed(3)} ms ${oracleOk ? 'OK' : 'MISSED'}`,
    );

    // 3. The app's CPU under the flood at unknown prefixes, then at a known one.
    const seconds = Math.min(SECONDS, 5);
    let before = await cpu();
    await openLoop(FLOOD_RATE, seconds, () => get(url, agent, unknownPrefix()));
    const unknownCpu = (await cpu()) - before;
    before = await cpu();
    await openLoop(FLOOD_RATE, seconds, () => get(url, agent, wrongSecretFor(probed.prefix)));
    const knownCpu = (await cpu()) - before;
    const cpuOk = knownCpu <= unknownCpu * 1.1;
    console.log(
      `${engine}: app CPU for ${FLOOD_RATE}/s x ${seconds} s: unknown prefixes ${unknownCpu.toFixed(0)} ms, a known prefix ${knownCpu.toFixed(0)} ms ${cpuOk ? 'OK' : 'MISSED'}`,
    );
    return floodOk && oracleOk && cpuOk;
  } finally {
    agent.destroy();
    ownAgent.destroy();
    child.kill('SIGKILL');
    await new Promise((resolve) =>
      child.exitCode !== null ? resolve(null) : child.once('exit', resolve),
    );
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function countStatuses(answers: Array<{ status: number }>): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const { status } of answers) counts[status] = (counts[status] ?? 0) + 1;
  return counts;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const untagged = args.includes('--untagged');
  if (args[0] === 'app') {
    await runApp(JSON.parse(process.env.LOCKOUT_DATABASE!), process.env.LOCKOUT_UNTAGGED === '1');
    return;
  }
  if (untagged) process.env.LOCKOUT_UNTAGGED = '1';
  const asked = args.filter((arg) => !arg.startsWith('--')) as Engine[];
  let ok = true;
  for (const engine of asked.length > 0 ? asked : ENGINES) {
    ok = (await benchEngine(engine)) && ok;
  }
  process.exit(ok ? 0 : 1);
}

void main().catch((error) => {
  console.error(error);
  process.exit(1);
});
