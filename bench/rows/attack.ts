/**
 * The attack rows: warm traffic for a known key while an attacker sends wrong secrets at a
 * fixed rate, and new keys make their first request halfway through.
 */
import http from 'node:http';
import { generateKey } from '../../lib/keys/format.js';
import { appCpu, createKeys, type RunningApp } from '../apps/apps.js';
import { timed } from '../harness/latency.js';
import {
  answeredCount,
  apiKeyHeaders,
  load,
  rowFromLoad,
  type LoadResult,
} from '../harness/load.js';
import type { AttackResult } from '../report/measurements.js';
import { ATTACK_RATE, BASE_KEYS, COLD_SAMPLES, DURATION, WARMUP } from '../harness/settings.js';
import { median } from '../harness/stats.js';

/** One attack row: what the attacker sends. */
export interface AttackRow {
  id: string;
  label: string;
  /** A new wrong secret for every request, or the same one throughout. */
  freshSecrets: boolean;
  /** Whose prefix the wrong secrets carry: the warm key's (memoised), or an unused key's. */
  prefixOf: 'warm' | 'cold';
  /** Unused keys whose prefixes the wrong secrets take in turn (`cold` only; default 1). */
  coldPrefixes?: number;
  /** Wrong-secret requests per second (default ATTACK_RATE). */
  rate?: number;
}

/** One GET with an `Authorization` header, counted into `statuses` or, when it fails, as a failure. */
function sendCounted(
  url: string,
  agent: http.Agent,
  authorization: string,
  tally: { statuses: Record<string, number>; failures: number },
): Promise<void> {
  return new Promise<void>((resolve) => {
    const request = http.get(url, { agent, headers: { authorization }, timeout: 30_000 }, (res) => {
      res.resume();
      res.on('end', () => {
        tally.statuses[res.statusCode!] = (tally.statuses[res.statusCode!] ?? 0) + 1;
        resolve();
      });
    });
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', () => {
      tally.failures++;
      resolve();
    });
  });
}

/**
 * Sends `rate` requests a second for `duration` seconds whatever the answers take (autocannon
 * waits for an answer before a connection's next request, so slow answers would slow the
 * attacker down), then waits for every answer. Counts answers by status.
 */
async function openLoop(
  url: string,
  rate: number,
  duration: number,
  authorization: () => string,
): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  const tally = { statuses: {} as Record<string, number>, failures: 0 };
  const pending: Promise<void>[] = [];
  const started = performance.now();
  for (let sent = 0; sent < rate * duration; sent++) {
    const due = started + (sent * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    pending.push(sendCounted(url, agent, authorization(), tally));
  }
  await Promise.all(pending);
  agent.destroy();
  return {
    ok: tally.statuses['200'] ?? 0,
    failures: tally.failures,
    statuses: tally.statuses,
    seconds: duration,
    latencies: new Float64Array(0),
  };
}

/** Halfway through the measurement, the first request of each of `probes`, one at a time. */
async function probeHalfway(url: string, probes: string[]): Promise<AttackResult['newKeys']> {
  await new Promise((resolve) => setTimeout(resolve, (DURATION * 1000) / 2));
  const answers: Array<{ status: number; ms: number }> = [];
  for (const probe of probes) answers.push(await timed(url, probe));
  const times = answers.map((answer) => answer.ms);
  return {
    samples: probes.length,
    ok: answers.filter((answer) => answer.status === 200).length,
    medianMs: median(times),
    maxMs: Math.max(...times),
  };
}

/**
 * Warm traffic for the known key while an attacker sends wrong secrets for a known prefix: the
 * warm key's own (memoised), or with `prefixOf: 'cold'` that of another key never used since
 * the app started. Halfway through, new keys make their first request, one at a time, to show
 * what the attack does to keys that still need a slow check.
 */
export async function underAttack(app: RunningApp, attack: AttackRow): Promise<AttackResult> {
  const key = app.key!;
  const prefixes = (
    attack.prefixOf === 'warm' ? [key] : await createKeys(app, attack.coldPrefixes ?? 1)
  ).map((k) => k.slice(0, 8));
  let sent = 0;
  const wrongSecret = () => `${prefixes[sent++ % prefixes.length]}.${generateKey().key.slice(9)}`;
  const fixedWrong = wrongSecret();
  const probes = await createKeys(app, COLD_SAMPLES);
  process.stdout.write(
    `  ${attack.id}. ${attack.label}: warm-up ${WARMUP} s, measuring ${DURATION} s ... `,
  );
  await load({ url: app.url, headers: apiKeyHeaders(key), duration: WARMUP });
  const attacking = openLoop(
    app.url,
    attack.rate ?? ATTACK_RATE,
    DURATION,
    () => `Api-Key ${attack.freshSecrets ? wrongSecret() : fixedWrong}`,
  );
  const before = await appCpu(app);
  const probing = probeHalfway(app.url, probes);
  const warm = await load({ url: app.url, headers: apiKeyHeaders(key), duration: DURATION });
  const cpuMicros = (await appCpu(app)) - before;
  const attacked = await attacking;
  const newKeys = await probing;
  const row = rowFromLoad(attack.id, attack.label, warm, BASE_KEYS);
  // The app's CPU also went to the attack's requests: count them in.
  row.cpuUs = cpuMicros / Math.max(1, answeredCount(warm) + answeredCount(attacked));
  console.log(
    `${Math.round(row.rps)} req/s, p99 ${row.p99.toFixed(2)} ms; attacker got ${JSON.stringify(attacked.statuses)}; new keys' first request ${newKeys.medianMs.toFixed(1)} ms median, ${newKeys.ok}/${newKeys.samples} answered 200`,
  );
  const answered = answeredCount(attacked);
  return {
    row,
    attacker: { rate: answered / attacked.seconds, sent: answered, statuses: attacked.statuses },
    newKeys,
  };
}
