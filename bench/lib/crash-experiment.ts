// The handout's crash experiment, as it is written: clients trade while a random order replica is
// killed, stays down for a while and comes back; repeated, the leader among the victims. Then: did
// the clients notice (while trading, or in their final check of every order), and do all replicas
// end up with the same database file?
//
// Each round: five real `bazaar client` processes (one session each) start trading; a seeded schedule
// picks the victim (the leader in half the rounds, a follower, one of the others at random, in the
// rest, shuffled); it gets kill -9, stays down until at least MISSED_ORDERS_MIN orders have committed
// without it, is recovered with `bazaar admin recover` while the clients keep trading, and its
// catch-up is timed. Then the clients are stopped with SIGINT (as a user's Ctrl-C: they verify every
// order they placed, their final checking phase) and each replica's order log is hashed. So every
// round has its own errors, its own final check and its own file hashes.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import * as admin from '../../src/admin/index.ts';
import type { ClientReport } from '../../src/client/index.ts';
import { type Random, seededRandom } from '../../src/client/random.ts';
import { readOrderLog } from '../../harness/checks.ts';
import { until } from '../../harness/wait.ts';
import type { Proc } from '../../harness/cluster.ts';
import { checkFiles, type FilesCheck, type LocalCluster, withCluster } from './fixture.ts';

/** Orders that must commit while the victim is down, so that it comes back far behind ("a few hundred"). */
export const MISSED_ORDERS_MIN = 400;
/** Client processes, one session each, as the handout's "clients". */
export const CRASH_CLIENTS = 5;
/** Their trade probability: high, so that the victim misses many orders in a short outage. */
export const CRASH_P = 0.8;
/** How long one wait of a round (orders to pass, a catch-up) may take before the round is reported as stuck. */
const ROUND_WAIT_MS_MAX = 30_000;
const POLL_MS = 10;
const CLIENT_EXIT_MS_MAX = 60_000;

export interface CrashRound {
  readonly round: number;
  readonly victim: number;
  readonly was: 'leader' | 'follower';
  /** From the kill -9 until `bazaar admin recover` returned (the replica answering again). */
  readonly down_ms: number;
  /** Orders committed while it was down: the leader's last number at its return less its own log's. */
  readonly missed_orders: number;
  /** From its return until it held every order the leader had committed by then, clients still trading. */
  readonly catch_up_ms: number;
  /** Epochs the cluster moved on during the round: 1 for a leader kill handled by one election, 0 for a follower. */
  readonly new_epochs: number;
  /** Public requests the frontend answered from the kill to the end of the catch-up, and how many with a 5xx (which a client would retry). */
  readonly frontend_requests: number;
  readonly frontend_5xx: number;
  /** The round's five clients: what they placed, their failed requests while trading, their final check. */
  readonly clients: readonly CrashClient[];
  /** After the clients' final check: sha256 of each replica's order log, identical or not, catalog = log. */
  readonly files: FilesCheck;
}

export interface CrashClient {
  readonly seed: number;
  readonly exit_code: number | null;
  readonly orders_placed: number;
  /** Lookups and trades that failed after all their retries, while trading. */
  readonly errors_while_trading: number;
  /** Order queries that failed, plus orders that did not read back as placed, in the final check. */
  readonly final_check_failures: number;
  readonly retries: number;
  readonly trade_p50_ms: number | null;
  readonly trade_max_ms: number | null;
  readonly samples: readonly string[];
}

export interface CrashExperiment {
  readonly seed: number;
  readonly rounds: readonly CrashRound[];
  /** The last round's: the files after the whole run. */
  readonly files: FilesCheck;
}

/** The victims' kinds, a shuffled half-and-half of leader and follower (each at least a third of the rounds). */
export function crashSchedule(rounds: number, seed: number): Array<'leader' | 'follower'> {
  const random = seededRandom(seed);
  const kinds: Array<'leader' | 'follower'> = Array.from({ length: rounds }, (_, index) => (index % 2 === 0 ? 'leader' : 'follower'));
  for (let index = kinds.length - 1; index > 0; index -= 1) {
    const other = random.int(0, index);
    [kinds[index], kinds[other]] = [kinds[other]!, kinds[index]!];
  }
  return kinds;
}

export async function crashExperiment(rounds: number, seed: number, progress: (message: string) => void): Promise<CrashExperiment> {
  return withCluster({ cache: true }, async (local) => {
    const random = seededRandom(seed + 1);
    const schedule = crashSchedule(rounds, seed);
    const results: CrashRound[] = [];
    for (let round = 1; round <= rounds; round += 1) {
      const seeds = Array.from({ length: CRASH_CLIENTS }, (_, index) => seed + 100 * round + index);
      const clients = seeds.map((clientSeed) => startClient(local, clientSeed));
      let measured: Omit<CrashRound, 'clients' | 'files'>;
      try {
        const startedAt = await committed(local);
        await until('the clients to start trading', async () => ((await committed(local)) >= startedAt + MISSED_ORDERS_MIN / 4 ? true : undefined), ROUND_WAIT_MS_MAX, POLL_MS);
        measured = await crashRound(local, round, schedule[round - 1]!, random, progress);
      } finally {
        for (const client of clients) if (client.running) process.kill(client.pid, 'SIGINT');
      }
      const reports = await Promise.all(clients.map((client, index) => finishClient(local, client, seeds[index]!)));
      const files = await checkFiles(local);
      results.push({ ...measured, clients: reports, files });
      const sum = (pick: (client: CrashClient) => number): number => reports.reduce((total, client) => total + pick(client), 0);
      progress(`  clients: ${sum((client) => client.orders_placed)} orders, ${sum((client) => client.errors_while_trading)} errors while trading, ${sum((client) => client.final_check_failures)} failures in the final check; logs ${files.identical ? 'identical' : 'DIFFER'}`);
    }
    return { seed, rounds: results, files: results.at(-1)!.files };
  });
}

/** One kill -9, the outage, the recovery under load and the catch-up, while the round's clients trade. */
async function crashRound(local: LocalCluster, round: number, was: 'leader' | 'follower', random: Random, progress: (message: string) => void): Promise<Omit<CrashRound, 'clients' | 'files'>> {
  const status = await admin.status(local.config);
  const leader = status.orders.find((order) => order.health?.state === 'leader' && order.health.serving);
  if (leader === undefined) throw new Error(`round ${round}: no serving leader\n${admin.formatStatus(status)}`);
  const followers = status.orders.filter((order) => order.id !== leader.id && order.up);
  const victim = was === 'leader' ? leader : random.pick(followers);
  const epochBefore = epochOf(status);
  const answeredBefore = await frontendAnswers(local);
  progress(`crash experiment: round ${round}, kill -9 of replica ${victim.id} (the ${was})`);

  const killedAt = performance.now();
  process.kill(victim.health!.pid!, 'SIGKILL');
  await until(`replica ${victim.id} to stop answering`, async () => ((await admin.status(local.config)).orders.find((order) => order.id === victim.id)!.up ? undefined : true), ROUND_WAIT_MS_MAX, POLL_MS);
  const ownLast = (await readOrderLog(local.cluster.orderLogPath(victim.id))).at(-1)?.number ?? -1;
  await until(`${MISSED_ORDERS_MIN} orders to commit without replica ${victim.id}`, async () => ((await committed(local)) >= ownLast + 1 + MISSED_ORDERS_MIN ? true : undefined), ROUND_WAIT_MS_MAX, POLL_MS);

  await admin.recover(local.config, victim.id);
  const backAt = performance.now();
  const target = await committed(local);
  await until(`replica ${victim.id} to catch up to order ${target}`, async () => {
    const health = (await admin.status(local.config)).orders.find((order) => order.id === victim.id)?.health;
    return health !== null && health !== undefined && health.lastNumber >= target ? true : undefined;
  }, ROUND_WAIT_MS_MAX, POLL_MS);
  const caughtUpAt = performance.now();
  const answered = await frontendAnswers(local);
  progress(`  down ${Math.round(backAt - killedAt)} ms, missed ${target - ownLast} orders, caught up in ${Math.round(caughtUpAt - backAt)} ms under load`);
  return {
    round,
    victim: victim.id,
    was,
    down_ms: Math.round(backAt - killedAt),
    missed_orders: target - ownLast,
    catch_up_ms: Math.round(caughtUpAt - backAt),
    new_epochs: epochOf(await admin.status(local.config)) - epochBefore,
    frontend_requests: answered.all - answeredBefore.all,
    frontend_5xx: answered.failed - answeredBefore.failed,
  };
}

function reportPath(local: LocalCluster, seed: number): string {
  return path.join(local.cluster.dir, `crash-client-${seed}.json`);
}

function startClient(local: LocalCluster, seed: number): Proc {
  return local.cluster.spawn([
    'client',
    '--frontend', local.cluster.url('frontend'),
    '--p', String(CRASH_P),
    '--iterations', '10000000',
    '--clients', '1',
    '--seed', String(seed),
    '--json', reportPath(local, seed),
  ]);
}

async function finishClient(local: LocalCluster, client: Proc, seed: number): Promise<CrashClient> {
  const timer = setTimeout(() => client.running && process.kill(client.pid, 'SIGKILL'), CLIENT_EXIT_MS_MAX);
  const { code } = await client.exited;
  clearTimeout(timer);
  let report: ClientReport;
  try {
    report = JSON.parse(await readFile(reportPath(local, seed), 'utf8')) as ClientReport;
  } catch {
    throw new Error(`bazaar client (seed ${seed}) exited with ${code} and wrote no report:\n${client.output.slice(-2_000)}`);
  }
  return {
    seed,
    exit_code: code,
    orders_placed: report.orders_placed,
    errors_while_trading: report.errors_by_kind.lookup + report.errors_by_kind.trade,
    final_check_failures: report.errors_by_kind.order_query + report.mismatches,
    retries: report.retries,
    trade_p50_ms: report.latency.trade.p50_ms,
    trade_max_ms: report.latency.trade.max_ms,
    samples: [...report.error_samples, ...report.mismatch_samples].slice(0, 5),
  };
}

/** The highest order number any answering replica holds (the leader's, while one serves). */
async function committed(local: LocalCluster): Promise<number> {
  const status = await admin.status(local.config);
  return Math.max(-1, ...status.orders.map((order) => order.health?.lastNumber ?? -1));
}

/** Public requests the frontend has answered, from its /metrics: all of them, and those with a 5xx. */
async function frontendAnswers(local: LocalCluster): Promise<{ all: number; failed: number }> {
  const text = await (await fetch(`${local.cluster.url('frontend')}/metrics`)).text();
  let all = 0;
  let failed = 0;
  for (const match of text.matchAll(/^bazaar_frontend_requests_total\{route="([^"]+)",status="(\d+)"\} (\d+)$/gm)) {
    if (!/^(GET \/stocks|POST \/orders|GET \/orders)/.test(match[1]!)) continue;
    all += Number(match[3]);
    if (Number(match[2]) >= 500) failed += Number(match[3]);
  }
  return { all, failed };
}

function epochOf(status: admin.ClusterStatus): number {
  return Math.max(0, ...status.orders.map((order) => order.health?.epoch ?? 0));
}

