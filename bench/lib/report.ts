// Turns one results file into docs/evaluation.md and its SVG plots. Everything in the report comes
// from the results; nothing is typed in by hand.
import { type Goal, GOALS, goalText, meets, reached } from './targets.ts';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { CrashExperiment } from './crash-experiment.ts';
import { table } from './markdown.ts';
import type { RecoverySummary } from './recovery.ts';
import type { CatalogRebuild } from './catalog-rebuild.ts';
import type { ReplacementPoint } from './replacement.ts';
import { cacheSection, KINDS, ms, replacementSection } from './report-cache.ts';
import { crashSection } from './report-crash.ts';
import type { FilesCheck } from './fixture.ts';
import { type FailoverRun, HANG_MS, type OutageRun, type PairedThroughput, type SweepPoint, WARMUP_ITERATIONS } from './scenarios.ts';
import { type LoadResult, WARMUP_S } from './measure.ts';
import { barChart, COLORS, formatNumber, scatterChart } from './svg.ts';
import type { TradePath } from './trade-path.ts';

/** Sequential trades against the floor of the trade's critical path, both measured in the same run. */
export interface TradePathResult extends TradePath {
  readonly round_trips: number;
  readonly fsync_stages: number;
  readonly floor_ms: number;
  readonly ratio: number;
}

/** One figure of an A/B (`npm run bench:ab`): A is the previous build, B this one. */
export interface AbFigure {
  readonly figure: string;
  readonly a_median: number;
  readonly b_median: number;
  readonly ratio: number;
  readonly a_runs: readonly number[];
  readonly b_runs: readonly number[];
}

export interface AbResults {
  readonly file: string;
  readonly started_at: string;
  readonly pairs: number;
  readonly base: string;
  readonly candidate: string;
  /** What A and B are (say, their commits). */
  readonly base_label: string;
  readonly candidate_label: string;
  /** Which side ran its clusters with the cluster's TLS (`--base-tls`, `--candidate-tls`); absent before TLS. */
  readonly tls?: { readonly A: boolean; readonly B: boolean };
  readonly ok: boolean;
  readonly figures: readonly AbFigure[];
}

/**
 * The newest A/B results file in `dir` (bench:ab writes `ab-<time>.json` there) of a kind, if any:
 * `build`, two builds under the same conditions; `tls`, one build without the cluster's TLS and with it.
 */
export async function latestAb(dir: string, chosen?: string, kind: 'build' | 'tls' = 'build'): Promise<AbResults | null> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((name) => /^ab-.*\.json$/.test(name)).sort();
  } catch {
    return null;
  }
  if (chosen !== undefined && !names.includes(path.basename(chosen))) throw new Error(`no A/B results ${chosen} in ${dir}`);
  const read = async (name: string): Promise<Omit<AbResults, 'file'>> => JSON.parse(await readFile(path.join(dir, name), 'utf8')) as Omit<AbResults, 'file'>;
  const isTls = (stored: Omit<AbResults, 'file'>): boolean => stored.tls !== undefined && stored.tls.A !== stored.tls.B;
  let newest: string | undefined;
  if (chosen !== undefined) newest = path.basename(chosen);
  else {
    for (const name of [...names].reverse()) {
      if (isTls(await read(name)) === (kind === 'tls')) {
        newest = name;
        break;
      }
    }
  }
  if (newest === undefined) return null;
  const stored = await read(newest);
  return {
    file: newest,
    started_at: stored.started_at,
    pairs: stored.pairs,
    base: stored.base,
    candidate: stored.candidate,
    base_label: stored.base_label ?? path.basename(stored.base),
    candidate_label: stored.candidate_label ?? path.basename(stored.candidate),
    ...(stored.tls === undefined ? {} : { tls: stored.tls }),
    ok: stored.ok,
    figures: stored.figures,
  };
}

export interface Results {
  readonly started_at: string;
  readonly finished_at: string;
  readonly quick: boolean;
  readonly target: string;
  readonly command: string;
  readonly machine: { cpu: string; cores: number; memory_gib: number; node: string; os: string };
  readonly floors: { bare_http: LoadResult; proxy_hop: LoadResult; sequential_request_p50_ms: number; append_fdatasync_p50_ms: number; lru_hit_ns: number; connections: number; duration_s: number };
  readonly trade_path: TradePathResult | null;
  /** Connections the order throughput (and its floor) ran with. */
  readonly order_connections: number;
  /** The newest A/B of this build against the previous one, when there is one. */
  readonly ab: AbResults | null;
  /** The newest A/B of the cluster's TLS against none (one build); absent from results before TLS. */
  readonly tls_ab?: AbResults | null;
  readonly sweep: readonly SweepPoint[];
  readonly throughput: { lookup_cached: PairedThroughput; lookup_uncached: PairedThroughput | null; orders: PairedThroughput & { readonly cpu_ms_per_order?: Readonly<Record<string, number>> } } | null;
  readonly failover: FailoverRun | null;
  /** The leader hung (SIGSTOP) instead of killed; absent from results before it was measured. */
  readonly hang?: FailoverRun | null;
  /** kill -9 of the catalog under bazaar up, which restarts it. */
  readonly catalog_outage?: OutageRun | null;
  readonly recovery: readonly RecoverySummary[];
  /** The catalog rebuilt from the order log after its disk is lost; absent from results before one truth. */
  readonly catalog_rebuild?: readonly CatalogRebuild[];
  /** The handout's crash experiment; absent from results before it was measured. */
  readonly crash_experiment?: CrashExperiment | null;
  /** The cache smaller than the catalog; absent from results before it was measured. */
  readonly replacement?: readonly ReplacementPoint[] | null;
  readonly targets: readonly Target[];
}

export interface Target {
  readonly name: string;
  readonly goal: string;
  readonly measured: string;
  readonly met: boolean | null;
  readonly note: string;
}

/** Mean latency under load from Little's law (connections ÷ req/s): autocannon's own percentiles come in whole milliseconds. */
function littleMs(result: LoadResult, connections: number): string {
  return ms(result.rps === 0 ? null : (connections / result.rps) * 1000);
}

function filesCell(files: FilesCheck | null): string {
  if (files === null) return '–';
  return `${files.orders} orders; logs ${files.identical ? 'identical' : '**differ**'}; catalog ${files.conserved ? '= log' : `**≠ log** (${files.problem})`}`;
}

export function computeTargets(results: Omit<Results, 'targets'>): Target[] {
  const targets: Target[] = [];
  const throughput = results.throughput;
  if (throughput !== null) {
    const pairs = throughput.lookup_cached.pairs.length;
    const ratio = throughput.lookup_cached.ratio;
    targets.push({
      name: 'cached lookup throughput',
      goal: goalText(GOALS.cachedLookupThroughput),
      measured: `${formatNumber(throughput.lookup_cached.result.rps)} req/s = ${ratio.toFixed(2)} × the ${formatNumber(throughput.lookup_cached.floor_rps)} req/s floor measured just before (median of ${pairs} pair${pairs === 1 ? '' : 's'})`,
      met: meets(GOALS.cachedLookupThroughput, ratio),
      note:
        meets(GOALS.cachedLookupThroughput, ratio)
          ? ''
          : `${reached(GOALS.cachedLookupThroughput, ratio)} Why, profiled under this load with --cpu-prof (frontend and floor each on one core, autocannon on the other): the socket write per response costs the same in both, about 5 to 6 µs; the frontend spends about 5 µs more per request, most of it in garbage collection (13% of its time, against 3% for the floor) and in its own request handling (the async handler, per-request context and reply objects, metrics). What would close it: a synchronous fast path for cached GETs that allocates nothing per request (no promise, context or reply object; precomputed header block), and counting metrics in a typed array.`,
    });
    const orderRatio = throughput.orders.ratio;
    const bare = throughput.orders.floor_rps;
    const cpu = throughput.orders.cpu_ms_per_order;
    targets.push({
      name: `orders/s, 3 replicas, fsync, ${results.order_connections} connections`,
      goal: goalText(GOALS.orderThroughput),
      measured: `${formatNumber(throughput.orders.result.rps)} orders/s = ${orderRatio.toFixed(3)} × the ${formatNumber(bare)} req/s floor measured just before at the same connections (median of ${throughput.orders.pairs.length})${cpu === undefined ? '' : `; ${cpu.summed} ms CPU per order, all roles`}`,
      met: meets(GOALS.orderThroughput, orderRatio),
      note:
        meets(GOALS.orderThroughput, orderRatio)
          ? ''
          : `${reached(GOALS.orderThroughput, orderRatio)} The cluster is CPU-bound: six processes and the load generator share ${results.machine.cores} cores, and an order is about ten messages (client, frontend, leader, catalog, two followers and back) and four fdatasyncs (catalog, leader, two followers); each message costs its sender a socket write and its receiver a wakeup and a read, which on this VM are the largest items in every role's profile. The bare floor answers one message with one message.`,
    });
  }
  const tradePath = results.trade_path;
  if (tradePath !== null) {
    targets.push({
      name: 'sequential trade p50 against its floor',
      goal: goalText(GOALS.sequentialTrade),
      measured: `${tradePath.p50_ms} ms = ${tradePath.ratio.toFixed(2)} × the ${tradePath.floor_ms} ms floor (${tradePath.round_trips} × ${results.floors.sequential_request_p50_ms} ms hop + ${tradePath.fsync_stages} × ${results.floors.append_fdatasync_p50_ms} ms fdatasync)`,
      met: meets(GOALS.sequentialTrade, tradePath.ratio),
      note: '',
    });
  }
  const ab = results.ab;
  if (ab !== null) {
    const figure = (name: string): AbFigure | undefined => ab.figures.find((item) => item.figure === name);
    const compare = (name: string, label: string, goal: Goal): void => {
      const item = figure(name);
      if (item === undefined) return;
      targets.push({ name: `${label} (A/B)`, goal: goalText(goal), measured: `${item.b_median} against ${item.a_median} = ${item.ratio.toFixed(2)} × (medians of ${ab.pairs} pairs)`, met: meets(goal, item.ratio), note: '' });
    };
    compare('trade_p50_ms', 'lab run: trade p50, this build against the previous', GOALS.abTradeP50);

    compare('lookup_p50_ms', 'lab run: lookup p50, this build against the previous', GOALS.abLookupP50);
    compare('query_p50_ms', 'lab run: order query p50, this build against the previous', GOALS.abQueryP50);
    compare('orders_per_s', 'orders/s at 64 connections, this build against the previous', GOALS.abOrdersPerS);
    compare('cpu_ms_per_order', 'CPU per order at 64 connections, all roles, this build against the previous', GOALS.abCpuPerOrder);
    compare('cpu_ms_per_trade', 'CPU per sequential trade, all roles, this build against the previous', GOALS.abCpuPerTrade);
  }
  const tlsAb = results.tls_ab ?? null;
  if (tlsAb !== null) {
    const compare = (name: string, label: string, goal: Goal): void => {
      const item = tlsAb.figures.find((figure) => figure.figure === name);
      if (item === undefined) return;
      targets.push({ name: `${label}, the cluster's TLS against none (A/B)`, goal: goalText(goal), measured: `${item.b_median} against ${item.a_median} = ${item.ratio.toFixed(2)} × (medians of ${tlsAb.pairs} pairs)`, met: meets(goal, item.ratio), note: '' });
    };
    compare('sequential_trade_p50_ms', 'sequential trade p50', GOALS.tlsTradeP50);
    compare('trade_p50_ms', 'lab run (5 sessions): trade p50', GOALS.tlsTradeP50);
    compare('orders_per_s', 'orders/s at 64 connections', GOALS.tlsThroughput);
    compare('lookups_per_s', 'cached lookups/s at 16 connections', GOALS.tlsThroughput);
  }
  const lookupOn = results.sweep.find((point) => point.cache && point.p === 0)?.report.latency.lookup.p50_ms;
  const lookupOff = results.sweep.find((point) => !point.cache && point.p === 0)?.report.latency.lookup.p50_ms;
  if (lookupOn !== undefined && lookupOff !== undefined && lookupOn !== null && lookupOff !== null) {
    targets.push({
      name: 'cached lookup p50',
      goal: goalText(GOALS.cachedLookupLatency),
      measured: `${lookupOn} ms vs ${lookupOff} ms = ${(lookupOn / lookupOff).toFixed(2)} ×`,
      met: meets(GOALS.cachedLookupLatency, lookupOn / lookupOff),
      note: meets(GOALS.cachedLookupLatency, lookupOn / lookupOff) ? '' : 'The uncached path is one extra loopback hop (≈ the sequential-request floor); under 5 concurrent clients both are dominated by queueing on 2 cores, which narrows the gap.',
    });
  }
  const failover = results.failover;
  if (failover !== null && failover.rounds.length > 0) {
    const errors = failover.rounds.reduce((sum, round) => sum + round.errors, 0);
    const worst = Math.max(...failover.rounds.map((round) => round.worst_trade_ms));
    targets.push({ name: 'failover: client-visible errors', goal: goalText(GOALS.failoverErrors), measured: String(errors), met: meets(GOALS.failoverErrors, errors), note: '' });
    targets.push({
      name: 'failover: worst trade latency around a leader kill',
      goal: goalText(GOALS.failoverWorstTrade),
      measured: `${worst} ms (worst of ${failover.rounds.length} rounds)`,
      met: meets(GOALS.failoverWorstTrade, worst),
      note: meets(GOALS.failoverWorstTrade, worst) ? '' : 'The kill itself is noticed at once (the connection drops); the time goes into the election (pings, notices, the new leader polling a majority and bringing it to its starting log) while five sessions queue behind it on 2 cores.',
    });
  }
  const hang = results.hang;
  if (hang !== null && hang !== undefined && hang.rounds.length > 0) {
    const errors = hang.rounds.reduce((sum, round) => sum + round.errors, 0);
    const worst = Math.max(...hang.rounds.map((round) => round.worst_trade_ms));
    targets.push({ name: 'hung leader: client-visible errors', goal: goalText(GOALS.hangErrors), measured: String(errors), met: meets(GOALS.hangErrors, errors), note: '' });
    targets.push({ name: 'hung leader: worst trade latency', goal: goalText(GOALS.hangWorstTrade), measured: `${worst} ms (worst of ${hang.rounds.length} rounds)`, met: meets(GOALS.hangWorstTrade, worst), note: '' });
  }
  const outage = results.catalog_outage;
  if (outage !== null && outage !== undefined && outage.rounds.length > 0) {
    const worst = Math.max(...outage.rounds.map((round) => round.outage_ms));
    const lost = outage.rounds.reduce((sum, round) => sum + round.lost, 0);
    targets.push({ name: 'catalog kill -9: outage, first refused trade to first accepted', goal: goalText(GOALS.catalogOutage), measured: `${worst} ms (worst of ${outage.rounds.length} rounds)`, met: meets(GOALS.catalogOutage, worst), note: '' });
    targets.push({ name: 'catalog kill -9: trades that never went through after retries', goal: goalText(GOALS.catalogLost), measured: String(lost), met: meets(GOALS.catalogLost, lost), note: '' });
  }
  const crash = results.crash_experiment;
  if (crash !== null && crash !== undefined) {
    const clients = crash.rounds.flatMap((round) => round.clients);
    const whileTrading = clients.reduce((sum, client) => sum + client.errors_while_trading, 0);
    const finalCheck = clients.reduce((sum, client) => sum + client.final_check_failures, 0);
    const unequal = crash.rounds.filter((round) => !round.files.identical || !round.files.conserved).length;
    targets.push({ name: `crash experiment: client errors while trading (${crash.rounds.length} replica crashes)`, goal: goalText(GOALS.crashErrors), measured: String(whileTrading), met: meets(GOALS.crashErrors, whileTrading), note: '' });
    targets.push({ name: 'crash experiment: failures in the clients\' final check', goal: goalText(GOALS.crashFinalCheck), measured: String(finalCheck), met: meets(GOALS.crashFinalCheck, finalCheck), note: '' });
    targets.push({ name: 'crash experiment: replicas\' database files after each round', goal: 'identical, catalog = log', measured: unequal === 0 ? `identical and catalog = log after all ${crash.rounds.length} rounds` : `${unequal} of ${crash.rounds.length} rounds ended with logs that differ or a catalog ≠ log`, met: unequal === 0, note: '' });
  }
  const big = results.recovery.find((summary) => summary.orders >= 100_000);
  if (big !== undefined) {
    targets.push({
      name: 'catch-up of 100,000 missed orders',
      goal: goalText(GOALS.catchUp100k),
      measured: `${big.median_catchup_ms} ms (median of ${big.runs})`,
      met: meets(GOALS.catchUp100k, big.median_catchup_ms),
      note: '',
    });
  }
  return targets;
}

function observations(results: Results): string[] {
  const lines: string[] = [];
  const at = (cache: boolean, p: number) => results.sweep.find((point) => point.cache === cache && point.p === p);
  const ps = [...new Set(results.sweep.map((point) => point.p))].sort();
  const high = ps.at(-1);
  if (high !== undefined && at(true, high) !== undefined && at(true, 0) !== undefined) {
    lines.push(`As p rises to ${high}, cached lookups slow from ${at(true, 0)!.report.latency.lookup.p50_ms} to ${at(true, high)!.report.latency.lookup.p50_ms} ms p50: every trade invalidates its stock, so more lookups miss, and the trades share the two cores.`);
  }
  const trades = results.sweep.filter((point) => point.p > 0).flatMap((point) => point.report.latency.trade.p50_ms ?? []);
  if (trades.length > 0) lines.push(`Trades cost ${Math.min(...trades)}–${Math.max(...trades)} ms p50 across the sweep, against ${results.trade_path === null ? '–' : `${results.trade_path.p50_ms} ms`} one at a time: five sessions and six processes share ${results.machine.cores} cores, so each of a trade's hops can wait for a core.`);
  const allFiles = [...results.sweep.map((point) => point.files), results.throughput?.orders.files ?? null, results.failover?.files ?? null, ...(results.crash_experiment?.rounds.map((round) => round.files) ?? [])].filter((files): files is FilesCheck => files !== null);
  if (allFiles.length > 0) {
    const identical = allFiles.every((files) => files.identical);
    const conserved = allFiles.every((files) => files.conserved);
    lines.push(`After each of the ${allFiles.length} local runs the three replicas' order logs were ${identical ? 'byte-identical' : '**not** all identical'}, and the catalog ${conserved ? 'matched' : '**did not** match'} the log for every stock (G3, G4).`);
  }
  if (results.failover !== null && results.failover.rounds.length > 0) {
    const rounds = results.failover.rounds;
    lines.push(`Killing the leader ${rounds.length} times under five trading sessions gave ${rounds.reduce((sum, round) => sum + round.errors, 0)} client-visible errors; the first trade sent after a kill completed ${Math.min(...rounds.map((round) => round.first_success_after_kill_ms))}–${Math.max(...rounds.map((round) => round.first_success_after_kill_ms))} ms after it.`);
  }
  return lines;
}

export async function writeReport(results: Results, reportPath: string, resultsPath: string): Promise<void> {
  const svgDir = path.join(path.dirname(reportPath), 'evaluation');
  await mkdir(svgDir, { recursive: true });
  const svgs: Record<string, string> = {};
  const out: string[] = [];
  const rel = (name: string) => `evaluation/${name}`;

  out.push('# Evaluation', '');
  out.push(`Generated by \`${results.command}\` from [${path.basename(resultsPath)}](../${path.relative(path.dirname(path.dirname(reportPath)), resultsPath)}), ${results.started_at} to ${results.finished_at}${results.quick ? ' (**quick mode**: fewer iterations and shorter runs)' : ''}. Target: ${results.target}.`, '');
  out.push('## Machine', '');
  out.push(table(['cpu', 'cores', 'memory', 'node', 'os'], [[results.machine.cpu, String(results.machine.cores), `${results.machine.memory_gib} GiB`, results.machine.node, results.machine.os]]), '');
  out.push('Every process of the cluster, the load generator and the floors share these cores.', '');

  out.push('## Floors (measured in this run)', '');
  const f = results.floors;
  out.push(table(['floor', 'figure'], [
    [`bare node:http JSON reply, ${f.connections} connections, ${f.duration_s} s (autocannon)`, `${formatNumber(f.bare_http.rps)} req/s, mean ${littleMs(f.bare_http, f.connections)} ms (connections ÷ req/s)`],
    ['one undici hop (node:http proxy to the bare server)', `${formatNumber(f.proxy_hop.rps)} req/s, mean ${littleMs(f.proxy_hop, f.connections)} ms`],
    ['sequential loopback request, p50', `${f.sequential_request_p50_ms} ms`],
    ['append 100 bytes + fdatasync, p50', `${f.append_fdatasync_p50_ms} ms`],
    ['lru-cache hit', `${f.lru_hit_ns} ns`],
  ]), '');

  const tp = results.trade_path;
  if (tp !== null) {
    out.push('## A trade\'s critical path', '');
    out.push(`${tp.trades} trades sent one at a time through the frontend of a fresh cluster (3 replicas), after a warm-up, each with its own key. What a trade cannot do without: ${tp.round_trips} round trips (client → frontend, frontend → leader, leader → catalog, leader → followers) and ${tp.fsync_stages} fsync stage${tp.fsync_stages === 1 ? '' : 's'} (${tp.fsync_stages === 1 ? "the leader's and the followers', side by side; the catalog approves in memory and applies after the reply" : "the catalog's; then the leader's and the followers', side by side"}). Its floor, from this run's floors: ${tp.round_trips} × ${f.sequential_request_p50_ms} ms (a bare request between two processes) + ${tp.fsync_stages} × ${f.append_fdatasync_p50_ms} ms (append + fdatasync) = **${tp.floor_ms} ms**.`, '');
    out.push(table(['measure', 'figure'], [
      ['trade p50 / p90 / mean', `${tp.p50_ms} / ${tp.p90_ms} / ${tp.mean_ms} ms`],
      ['p50 against the floor', `**${tp.ratio.toFixed(2)} ×**`],
      ['CPU per trade, by role (utime + stime)', Object.entries(tp.cpu_ms_per_trade).filter(([role]) => role !== 'summed').map(([role, ms]) => `${role} ${ms}`).join(', ') + ' ms'],
      ['CPU per trade, all roles', `${tp.cpu_ms_per_trade.summed} ms`],
    ]), '');
    out.push('Where one trade\'s time goes: the mean of each stage over the same trades, from the stage timings every role keeps in its `/metrics` (`bazaar_<role>_stage_seconds_total`, `_stage_total`, and the servers\' request timings). Indented lines are parts of the line above; "transit" is a call\'s time less the time its callee reports, i.e. the two messages, their wakeups and their parsing. The leader waits for every in-sync follower (G1), so the slower of the two sets its pace.', '');
    out.push(table(['stage', 'mean ms'], tp.breakdown.map((stage) => [`${'&nbsp;&nbsp;&nbsp;&nbsp;'.repeat(stage.depth)}${stage.stage}`, Number.isNaN(stage.mean_ms) ? '–' : String(stage.mean_ms)])), '');
  }

  if (results.ab !== null) {
    const ab = results.ab;
    out.push('## This build against the previous one (A/B)', '');
    out.push(`From \`npm run bench:ab\` ([${ab.file}](../bench/results/${ab.file}), ${ab.started_at}): ${ab.pairs} pairs in ABBA order, a fresh cluster for every run; A = ${ab.base_label}, B = ${ab.candidate_label}. Medians; every run is listed so the noise is visible.${ab.ok ? '' : ' **A run saw an error or unequal logs.**'}`, '');
    out.push(table(['figure', 'A (previous)', 'B (this build)', 'B / A', 'A runs', 'B runs'], ab.figures.map((item) => [item.figure, String(item.a_median), String(item.b_median), item.ratio.toFixed(3), item.a_runs.join(', '), item.b_runs.join(', ')])), '');
    // The floors do not depend on the build: when they moved between A's runs and B's, so did the machine.
    const floor = ab.figures.find((item) => item.figure === 'trade_floor_ms');
    if (floor !== undefined && Math.abs(floor.ratio - 1) > 0.1) {
      out.push(`The trade's floor, which no build changes, measured ${floor.a_median} ms in A's runs and ${floor.b_median} ms in B's (${floor.ratio.toFixed(2)} ×): the machine was ${floor.ratio < 1 ? 'slower during A\'s runs' : 'slower during B\'s runs'}, so every B / A above is ${floor.ratio < 1 ? 'flattered' : 'penalised'} by about that much. Against its own floor, the sequential trade went from ${ab.figures.find((item) => item.figure === 'sequential_trade_vs_floor')?.a_median ?? '–'} × to ${ab.figures.find((item) => item.figure === 'sequential_trade_vs_floor')?.b_median ?? '–'} ×.`, '');
    }
  }

  if (results.tls_ab !== undefined && results.tls_ab !== null) {
    const ab = results.tls_ab;
    out.push('## What the cluster\'s TLS costs', '');
    out.push(`From \`npm run bench:ab -- --candidate-tls\` ([${ab.file}](../bench/results/${ab.file}), ${ab.started_at}): one build, ${ab.pairs} pairs in ABBA order, a fresh cluster for every run; A = ${ab.base_label} (plain HTTP between roles), B = ${ab.candidate_label} (every role on TLS 1.3 with mutual authentication, certificates from \`bazaar certs\`; the public API on HTTPS). Medians; every run is listed.${ab.ok ? '' : ' **A run saw an error or unequal logs.**'} The TLS side measures its floors over TLS 1.3 too (a bare \`node:https\` server; A/Bs before 2026-12-02T21:46 measured plain floors on both sides), so \`*_ratio\` and \`sequential_trade_vs_floor\` compare each side with its own floor. The goals (trades within 10 %, throughput within 15 %) are judged in the targets below.`, '');
    out.push(table(['figure', 'A (TLS off)', 'B (TLS on)', 'B / A', 'A runs', 'B runs'], ab.figures.map((item) => [item.figure, String(item.a_median), String(item.b_median), item.ratio.toFixed(3), item.a_runs.join(', '), item.b_runs.join(', ')])), '');
    // What TLS costs the bare floors on this machine, from each side's figure and its ratio to its floor.
    const figure = (name: string): AbFigure | undefined => ab.figures.find((item) => item.figure === name);
    const floorOf = (rate: string, ratio: string, side: 'a_median' | 'b_median'): number | undefined => {
      const value = figure(rate)?.[side];
      const share = figure(ratio)?.[side];
      return value === undefined || share === undefined || share === 0 ? undefined : value / share;
    };
    const lookupsFloor = { a: floorOf('lookups_per_s', 'lookups_ratio', 'a_median'), b: floorOf('lookups_per_s', 'lookups_ratio', 'b_median') };
    const hop = figure('hop_floor_ms');
    if (lookupsFloor.a !== undefined && lookupsFloor.b !== undefined && hop !== undefined) {
      out.push(`The floors alone: a bare server answered ${Math.round(lookupsFloor.a)} requests/s at 16 connections in plain HTTP and ${Math.round(lookupsFloor.b)}/s over TLS (${(lookupsFloor.b / lookupsFloor.a).toFixed(2)} ×), with the load generator on the same cores paying its side of TLS too; one request at a time took ${hop.a_median} ms and ${hop.b_median} ms. Against its own floor, the cluster did ${figure('lookups_ratio')?.a_median} × (plain) and ${figure('lookups_ratio')?.b_median} × (TLS) on cached lookups, and a sequential trade ${figure('sequential_trade_vs_floor')?.a_median} × and ${figure('sequential_trade_vs_floor')?.b_median} × its floor: what TLS costs here is what it costs every request on this machine, on every hop of a trade.`, '');
    }
  }

  out.push('## Targets', '');
  out.push(table(['target', 'goal', 'measured', 'met'], results.targets.map((target) => [target.name, target.goal, target.measured, target.met === null ? '–' : target.met ? 'yes' : '**no**'])), '');
  for (const target of results.targets.filter((item) => item.note !== '')) out.push(`- **${target.name}**: ${target.note}`);
  out.push('');

  if (results.sweep.length > 0) {
    out.push('## Latency as the trade probability p grows', '');
    out.push(`Five \`bazaar client\` sessions, a fresh cluster (3 replicas) for every point, warmed up by a discarded run of ${WARMUP_ITERATIONS} iterations per session; latency in ms as the clients see it.`, '');
    const rows = results.sweep.map((point) => [
      point.cache ? 'on' : 'off',
      String(point.p),
      ...KINDS.map((kind) => {
        const s = point.report.latency[kind];
        return s.count === 0 ? '–' : `${ms(s.p50_ms)} / ${ms(s.p90_ms)} / ${ms(s.p99_ms)} / ${ms(s.mean_ms)}`;
      }),
      `${point.report.errors} / ${point.report.mismatches}`,
      filesCell(point.files),
    ]);
    out.push(table(['cache', 'p', 'lookup p50 / p90 / p99 / mean', 'trade p50 / p90 / p99 / mean', 'order query p50 / p90 / p99 / mean', 'errors / mismatches', 'replica files'], rows), '');
  }
  out.push(...cacheSection(results.sweep, svgs, rel));
  out.push(...replacementSection(results.replacement ?? [], svgs, rel));

  if (results.throughput !== null) {
    const t = results.throughput;
    out.push('## Throughput against the floor', '');
    out.push(`autocannon, ${f.connections} connections, ${f.duration_s} s each after ${WARMUP_S} s of discarded warm-up, a fresh cluster each. Each figure is paired with the bare node:http floor measured immediately before it (this machine's speed drifts by ±15% between runs minutes apart), ${t.lookup_cached.pairs.length} pair(s) per figure; the pair with the median ratio is shown, every pair is in the results file.`, '');
    const rows: Array<[string, PairedThroughput | null]> = [
      ['lookup, cached (GET /stocks/GameStart)', t.lookup_cached],
      ['lookup, caching off', t.lookup_uncached],
      [`orders (POST /orders, 3 replicas, fsync, ${results.order_connections} connections)`, t.orders],
    ];
    if (t.orders.cpu_ms_per_order !== undefined) {
      out.push(`Orders run with ${results.order_connections} connections (and their floor too). CPU per order over the measured run, by role: ${Object.entries(t.orders.cpu_ms_per_order).filter(([role]) => role !== 'summed').map(([role, ms]) => `${role} ${ms}`).join(', ')}; all roles **${t.orders.cpu_ms_per_order.summed} ms**.`, '');
    }
    out.push(table(['load', 'req/s', 'floor just before', 'ratio (median)', 'all ratios', 'mean ms (connections ÷ req/s) / p99 ms (whole ms)', 'errors / non-2xx', 'replica files'], rows.filter(([, run]) => run !== null).map(([label, run]) => [
      label,
      formatNumber(run!.result.rps),
      formatNumber(run!.floor_rps),
      run!.ratio.toFixed(3),
      run!.pairs.map((pair) => pair.ratio.toFixed(3)).join(', '),
      `${littleMs(run!.result, label.startsWith('orders') ? results.order_connections : f.connections)} / ${run!.result.p99_ms}`,
      `${run!.result.errors} / ${run!.result.non2xx}`,
      filesCell(run!.files) + (run!.pairs.every((pair) => pair.files_ok !== false) ? '' : ' (**a pair had a file problem**)'),
    ])), '');
    svgs['throughput.svg'] = barChart({
      title: 'Throughput (req/s)',
      yLabel: 'requests per second',
      bars: [
        { label: 'bare http', value: f.bare_http.rps },
        { label: 'one undici hop', value: f.proxy_hop.rps },
        { label: 'lookup cached', value: t.lookup_cached.result.rps },
        ...(t.lookup_uncached === null ? [] : [{ label: 'lookup uncached', value: t.lookup_uncached.result.rps }]),
        { label: 'orders', value: t.orders.result.rps },
      ],
    });
    out.push(`![throughput](${rel('throughput.svg')})`, '');
  }

  if (results.failover !== null) {
    const rounds = results.failover.rounds;
    out.push('## Failover: the leader killed while clients trade', '');
    out.push('Five sessions each send one trade at a time (each with its own Idempotency-Key, never retried by the client); 0.5 s in, `bazaar admin crash` kills the leader; 1.5 s later the round ends and `bazaar admin recover` brings it back.', '');
    out.push(table(['round', 'killed', 'trades', 'client-visible errors', 'worst trade ms (±1 s of the kill)', 'first success after kill ms', 'elections'], rounds.map((round) => [String(round.round), `replica ${round.killed}`, String(round.trades), String(round.errors), String(round.worst_trade_ms), String(round.first_success_after_kill_ms), String(round.elections)])), '');
    out.push(`Replica files after the last round: ${filesCell(results.failover.files)}.`, '');
    svgs['failover.svg'] = scatterChart({
      title: 'Trade latency around a leader kill',
      xLabel: 'ms since the kill (when the trade was sent)',
      yLabel: 'trade latency (ms)',
      marker: { x: 0, label: 'leader killed' },
      series: rounds.map((round, index) => ({ name: `round ${round.round}`, color: COLORS[index % COLORS.length]!, points: round.timeline.filter(([sent]) => sent >= -300 && sent <= 700).map(([sent, latency]) => [sent, latency] as const) })),
    });
    out.push(`![failover timeline](${rel('failover.svg')})`, '');
  }

  if (results.hang !== null && results.hang !== undefined) {
    const rounds = results.hang.rounds;
    out.push('## A hung leader while clients trade', '');
    out.push(`As above, but the leader is stopped with SIGSTOP through \`bazaar up\` (a hang, not a crash: its connections stay open and silent) and continued with SIGCONT ${HANG_MS / 1000} s later, when it rejoins as a follower.`, '');
    out.push(table(['round', 'hung', 'trades', 'client-visible errors', 'worst trade ms (±1 s of the hang)', 'first success after the hang ms', 'elections'], rounds.map((round) => [String(round.round), `replica ${round.killed}`, String(round.trades), String(round.errors), String(round.worst_trade_ms), String(round.first_success_after_kill_ms), String(round.elections)])), '');
    out.push(`Replica files after the last round: ${filesCell(results.hang.files)}.`, '');
  }

  if (results.catalog_outage !== null && results.catalog_outage !== undefined) {
    const rounds = results.catalog_outage.rounds;
    out.push('## The catalog killed under `bazaar up`', '');
    out.push('Five sessions trade one at a time; 0.5 s in, the catalog gets `kill -9`, and `bazaar up` starts it again. A refused trade (503, or no answer) is retried under its key every 50 ms; the outage is from the first trade refused after the kill until the first trade accepted after that.', '');
    out.push(table(['round', 'outage ms', 'refusals retried', 'trades never accepted', 'trades'], rounds.map((round) => [String(round.round), String(round.outage_ms), String(round.refused), String(round.lost), String(round.trades)])), '');
    out.push(`Replica files after the last round: ${filesCell(results.catalog_outage.files)}.`, '');
  }

  if (results.crash_experiment !== null && results.crash_experiment !== undefined) out.push(...crashSection(results.crash_experiment));

  if (results.recovery.length > 0) {
    out.push('## Recovery: a replica that missed N orders', '');
    out.push('Two replicas\' logs seeded with N orders, the third empty; timed from its start (after its own start-up) until it holds every order in the current epoch, while one client keeps trading.', '');
    out.push(table(['missed orders', 'runs', 'catch-up ms (median)', 'follower peak RSS MB', 'leader peak RSS MB', 'trades served meanwhile', 'slowest of them ms', 'logs identical'], results.recovery.map((summary) => [
      formatNumber(summary.orders),
      String(summary.runs),
      String(summary.median_catchup_ms),
      String(summary.median_follower_peak_rss_mb),
      String(summary.median_leader_peak_rss_mb),
      String(summary.median_trades_during_catchup),
      String(summary.median_trade_max_ms_during_catchup),
      summary.all_logs_identical ? 'yes' : '**no**',
    ])), '');
  }

  if (results.catalog_rebuild !== undefined && results.catalog_rebuild.length > 0) {
    out.push('## The catalog rebuilt from the order log', '');
    out.push('Three replicas\' logs seeded with N committed orders; the catalog started with no data folder at all. Timed from its spawn until its health says it is level with the log and serves; then restarted from the checkpoint its clean stop wrote, and again with its folder deleted.', '');
    out.push(table(['committed orders', 'rebuild from nothing ms', 'catalog peak RSS MB', 'restart with checkpoint ms', 'restart with folder deleted ms', 'catalog = log'], results.catalog_rebuild.map((run) => [
      formatNumber(run.orders),
      String(run.rebuild_ms),
      String(run.catalog_peak_rss_mb),
      String(run.restart_with_checkpoint_ms),
      String(run.restart_without_checkpoint_ms),
      run.conserved ? 'yes' : '**no**',
    ])), '');
  }

  out.push('## Observations', '');
  for (const line of observations(results)) out.push(`- ${line}`);
  out.push('');

  await writeFile(reportPath, `${out.join('\n')}\n`);
  for (const [name, svg] of Object.entries(svgs)) await writeFile(path.join(svgDir, name), svg);
}
