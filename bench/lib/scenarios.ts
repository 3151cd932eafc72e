// The evaluation's scenarios, each on a fresh local cluster run from the bundle as a user runs it
// (`bazaar up`, `bazaar client`, `bazaar admin`), each ending with the replica files checked.
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import * as admin from '../../src/admin/index.ts';
import type { ClientReport } from '../../src/client/index.ts';
import { seededRandom } from '../../src/client/random.ts';
import type { Config } from '../../src/core/config.ts';
import type { CacheStats } from '../../src/protocol/health.ts';
import { hangRole } from '../../src/protocol/control.ts';
import { cpuMeter, rolesOf } from './cpu.ts';
import { type FilesCheck, type LocalCluster, runClient, withCluster, checkFiles } from './fixture.ts';
import { load, type LoadResult } from './measure.ts';

export interface SweepPoint {
  readonly cache: boolean;
  readonly p: number;
  readonly report: ClientReport;
  readonly files: FilesCheck | null;
  /** Lookups the frontend's cache answered over the measured run, of all lookups (its own counters); null with the cache off or remote. */
  readonly hit_ratio?: number | null;
}

/** Iterations per session of the discarded warm-up run before each measured one (a fresh cluster starts cold). */
export const WARMUP_ITERATIONS = 40;

export async function sweepPoint(cache: boolean, p: number, iterations: number, seed: number): Promise<SweepPoint> {
  return withCluster({ cache }, async (local) => {
    await runClient(local, local.cluster.url('frontend'), { p: 0.5, iterations: WARMUP_ITERATIONS, clients: 5, seed: seed + 1 });
    const before = await cacheStats(local.config);
    const report = await runClient(local, local.cluster.url('frontend'), { p, iterations, clients: 5, seed });
    const after = await cacheStats(local.config);
    const hits = after.hits - before.hits;
    const lookups = hits + after.misses - before.misses;
    return { cache, p, report, files: await checkFiles(local), hit_ratio: cache && lookups > 0 ? Math.round((hits / lookups) * 1000) / 1000 : null };
  });
}

/** The frontend's cache counters, from its /health. */
export async function cacheStats(config: Config): Promise<CacheStats> {
  const cache = (await admin.status(config)).frontend.health?.cache;
  if (cache === undefined) throw new Error('the frontend did not answer /health');
  return cache;
}

/** Trades for the throughput run: sells then buys of one unit, so no stock runs out. */
export function tradeRequests(): Array<{ method: 'POST'; path: string; body: string; headers: Record<string, string> }> {
  return ['GameStart', 'FishCo', 'BoarCo', 'MenhirCo'].flatMap((name) =>
    (['sell', 'buy'] as const).map((type) => ({
      method: 'POST' as const,
      path: '/orders',
      body: JSON.stringify({ name, quantity: 1, type }),
      headers: { 'content-type': 'application/json' },
    })),
  );
}

export interface ThroughputRun {
  readonly result: LoadResult;
  readonly files: FilesCheck | null;
}

/**
 * A throughput figure as a ratio to the bare node:http floor measured immediately before it, in
 * pairs, because this machine's speed drifts by ±15% between runs minutes apart. The median pair by
 * ratio is reported; every pair is kept.
 */
export interface PairedThroughput extends ThroughputRun {
  readonly floor_rps: number;
  readonly ratio: number;
  readonly pairs: ReadonlyArray<{ readonly rps: number; readonly floor_rps: number; readonly ratio: number; readonly files_ok: boolean | null }>;
}

export async function paired<R extends ThroughputRun>(repeats: number, floor: () => Promise<LoadResult>, measure: () => Promise<R>): Promise<PairedThroughput & R> {
  const runs: Array<{ run: R; floor_rps: number; ratio: number }> = [];
  for (let index = 0; index < repeats; index += 1) {
    const floorResult = await floor();
    const run = await measure();
    runs.push({ run, floor_rps: floorResult.rps, ratio: run.result.rps / floorResult.rps });
  }
  const sorted = [...runs].sort((a, b) => a.ratio - b.ratio);
  const middle = sorted[Math.floor((sorted.length - 1) / 2)]!;
  return {
    ...middle.run,
    floor_rps: middle.floor_rps,
    ratio: Math.round(middle.ratio * 1000) / 1000,
    pairs: runs.map(({ run, floor_rps, ratio }) => ({ rps: run.result.rps, floor_rps, ratio: Math.round(ratio * 1000) / 1000, files_ok: run.files === null ? null : run.files.identical && run.files.conserved })),
  };
}

export async function lookupThroughput(cache: boolean, connections: number, durationS: number): Promise<ThroughputRun> {
  return withCluster({ cache }, async (local) => {
    const result = await load({ url: `${local.cluster.url('frontend')}/stocks/GameStart`, connections, durationS });
    return { result, files: null };
  });
}

export interface OrderThroughputRun extends ThroughputRun {
  /** CPU milliseconds per order during the measured run, by role and summed (/proc). */
  readonly cpu_ms_per_order: Readonly<Record<string, number>>;
}

export async function orderThroughput(connections: number, durationS: number): Promise<OrderThroughputRun> {
  return withCluster({ cache: true }, async (local) => {
    const roles = await rolesOf(local.up.pid);
    let meter: Awaited<ReturnType<typeof cpuMeter>> | undefined;
    const result = await load({
      url: local.cluster.url('frontend'),
      connections,
      durationS,
      requests: tradeRequests(),
      beforeMeasuring: async () => {
        meter = await cpuMeter(roles);
      },
    });
    const cpu = await meter!.perUnit(result.requests);
    return { result, files: await checkFiles(local), cpu_ms_per_order: cpu };
  });
}

export interface FailoverRound {
  readonly round: number;
  readonly killed: number;
  readonly trades: number;
  /** Trades that did not get a 200 (each is sent once; the frontend does the failing over). */
  readonly errors: number;
  /** Those errors by HTTP status (0: no reply). */
  readonly error_statuses: Readonly<Record<string, number>>;
  /** Slowest trade in flight at the kill or sent within a second after it. */
  readonly worst_trade_ms: number;
  /** From the kill until the first trade sent after it completed. */
  readonly first_success_after_kill_ms: number;
  readonly elections: number;
  /** [sent at, ms relative to the kill; latency ms; 1 if it succeeded] for every trade of the round. */
  readonly timeline: ReadonlyArray<readonly [number, number, number]>;
}

export interface FailoverRun {
  readonly rounds: readonly FailoverRound[];
  readonly files: FilesCheck | null;
}

/** One trade of one unit under `key`: the reply's status, or 0 when none came. */
async function postTrade(pool: Pool, key: string, name: string, type: 'buy' | 'sell', headersTimeoutMs?: number): Promise<number> {
  try {
    const reply = await pool.request({
      method: 'POST',
      path: '/orders',
      headers: { 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify({ name, quantity: 1, type }),
      ...(headersTimeoutMs === undefined ? {} : { headersTimeout: headersTimeoutMs }),
    });
    await reply.body.dump();
    return reply.statusCode;
  } catch {
    return 0;
  }
}

/** How long `hang` rounds stop the leader (SIGSTOP, then SIGCONT). */
export const HANG_MS = 1_500;

/**
 * Five sessions trade in a loop (one at a time each, each trade with its own key) while the leader is
 * killed with `bazaar admin crash` (then recovered), or hung for HANG_MS with SIGSTOP through `bazaar
 * up`'s control socket (then it wakes by itself and rejoins); then the next round starts.
 */
export async function failover(rounds: number, seed: number, progress: (message: string) => void, fault: 'kill' | 'hang' = 'kill'): Promise<FailoverRun> {
  return withCluster({ cache: true }, async (local) => {
    const random = seededRandom(seed);
    const frontend = local.cluster.url('frontend');
    const pool = new Pool(frontend, { connections: 5 });
    const results: FailoverRound[] = [];
    try {
      for (let round = 1; round <= rounds; round += 1) {
        progress(`failover: round ${round}/${rounds}`);
        const health = (await (await pool.request({ method: 'GET', path: '/health' })).body.json()) as { data: { leader: number | null } };
        let leader = health.data.leader;
        if (leader === null) {
          await (await pool.request({ method: 'GET', path: '/orders/0' })).body.dump();
          leader = ((await (await pool.request({ method: 'GET', path: '/health' })).body.json()) as { data: { leader: number } }).data.leader;
        }
        const electionsBefore = await elections(pool);
        const samples: Array<{ sent: number; latency: number; ok: boolean; status: number }> = [];
        let killAt = Number.POSITIVE_INFINITY;
        let running = true;
        const session = async (index: number): Promise<void> => {
          let name = '';
          for (let count = 0; running; count += 1) {
            // A sell, then a buy of the same stock: quantities stay within a few units of where they
            // started however many trades a round makes, so no buy is refused for lack of stock.
            if (count % 2 === 0) name = random.pick(['GameStart', 'FishCo', 'BoarCo', 'MenhirCo']);
            const sent = performance.now();
            const status = await postTrade(pool, `failover-${seed}-${round}-${index}-${count}`, name, count % 2 === 0 ? 'sell' : 'buy');
            samples.push({ sent, latency: performance.now() - sent, ok: status === 200, status });
          }
        };
        const sessions = Array.from({ length: 5 }, (_, index) => session(index));
        await sleep(500);
        killAt = performance.now();
        if (fault === 'kill') await admin.crash(local.config, leader!);
        else await hangRole(local.config, `order-${leader!}`, HANG_MS);
        await sleep(1_500);
        running = false;
        await Promise.all(sessions);
        const window = samples.filter((sample) => sample.sent + sample.latency >= killAt && sample.sent <= killAt + 1_000);
        const firstAfter = samples.filter((sample) => sample.sent >= killAt && sample.ok).sort((a, b) => a.sent + a.latency - (b.sent + b.latency))[0];
        results.push({
          round,
          killed: leader!,
          trades: samples.length,
          errors: samples.filter((sample) => !sample.ok).length,
          error_statuses: countErrorStatuses(samples),
          worst_trade_ms: Math.round(Math.max(0, ...window.map((sample) => sample.latency)) * 10) / 10,
          first_success_after_kill_ms: firstAfter === undefined ? Number.NaN : Math.round((firstAfter.sent + firstAfter.latency - killAt) * 10) / 10,
          elections: (await elections(pool)) - electionsBefore,
          timeline: samples.map((sample) => [Math.round(sample.sent - killAt), Math.round(sample.latency * 10) / 10, sample.ok ? 1 : 0] as const),
        });
        if (fault === 'kill') await admin.recover(local.config, leader!);
        else await sleep(HANG_MS);
        await checkFiles(local);
      }
    } finally {
      await pool.close();
    }
    return { rounds: results, files: await checkFiles(local) };
  });
}

function countErrorStatuses(samples: ReadonlyArray<{ ok: boolean; status: number }>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const sample of samples) if (!sample.ok) counts[sample.status] = (counts[sample.status] ?? 0) + 1;
  return counts;
}

async function elections(pool: Pool): Promise<number> {
  const text = await (await pool.request({ method: 'GET', path: '/metrics' })).body.text();
  return Number(/bazaar_frontend_leader_elections_total (\d+)/.exec(text)?.[1] ?? 0);
}

export interface OutageRound {
  readonly round: number;
  /** From the first trade refused after the kill until the first accepted after that (sessions retry every RETRY_MS); 0 if none was refused. */
  readonly outage_ms: number;
  /** Trades refused (503) or unanswered meanwhile, each retried until accepted. */
  readonly refused: number;
  /** Trades that never went through within the round. */
  readonly lost: number;
  readonly trades: number;
}

export interface OutageRun {
  readonly rounds: readonly OutageRound[];
  readonly files: FilesCheck | null;
}

/**
 * `kill -9` of the catalog under `bazaar up`, which restarts it: five sessions trade one at a time,
 * each retrying a refused trade (503, or no answer) under the same key every 50 ms, as a client that
 * retries does; the outage is from the first trade refused after the kill until the first trade
 * accepted after that refusal (trades already past the catalog when it died still complete).
 */
export async function catalogOutage(rounds: number, seed: number, progress: (message: string) => void): Promise<OutageRun> {
  const RETRY_MS = 50;
  return withCluster({ cache: true }, async (local) => {
    const random = seededRandom(seed);
    const frontend = local.cluster.url('frontend');
    const pool = new Pool(frontend, { connections: 5 });
    const results: OutageRound[] = [];
    try {
      for (let round = 1; round <= rounds; round += 1) {
        progress(`catalog outage: round ${round}/${rounds}`);
        let killAt = Number.POSITIVE_INFINITY;
        let firstRefused = Number.POSITIVE_INFINITY;
        let firstAccepted = Number.POSITIVE_INFINITY;
        let refused = 0;
        let lost = 0;
        let trades = 0;
        let running = true;
        const session = async (index: number): Promise<void> => {
          let name = '';
          for (let count = 0; running; count += 1) {
            if (count % 2 === 0) name = random.pick(['GameStart', 'FishCo', 'BoarCo', 'MenhirCo']);
            const key = `outage-${seed}-${round}-${index}-${count}`;
            for (let accepted = false; !accepted; ) {
              const status = await postTrade(pool, key, name, count % 2 === 0 ? 'sell' : 'buy', 5_000);
              accepted = status === 200;
              if (accepted) {
                trades += 1;
                const now = performance.now();
                if (now > firstRefused && now < firstAccepted) firstAccepted = now;
              } else {
                refused += 1;
                if (performance.now() > killAt) firstRefused = Math.min(firstRefused, performance.now());
                if (!running) {
                  lost += 1;
                  break;
                }
                await sleep(RETRY_MS);
              }
            }
          }
        };
        const pids = await supervisedPids(local);
        const sessions = Array.from({ length: 5 }, (_, index) => session(index));
        await sleep(500);
        killAt = performance.now();
        process.kill(pids.catalog!, 'SIGKILL');
        await sleep(2_500);
        running = false;
        await Promise.all(sessions);
        const outage = firstRefused === Number.POSITIVE_INFINITY ? 0 : firstAccepted - firstRefused;
        results.push({ round, outage_ms: Math.round(outage * 10) / 10, refused, lost, trades });
      }
    } finally {
      await pool.close();
    }
    return { rounds: results, files: await checkFiles(local) };
  });
}

async function supervisedPids(local: LocalCluster): Promise<Record<string, number>> {
  const { supervised } = await import('../../src/protocol/control.ts');
  const children = await supervised(local.config, 2_000);
  return Object.fromEntries(Object.entries(children ?? {}).map(([name, child]) => [name, child.pid ?? -1]));
}
