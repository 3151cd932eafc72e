// `npm run bench`: measures the bazaar and writes bench/results/<timestamp>.json and docs/evaluation.md.
//
//   npm run bench                        full run on a local cluster (a few minutes)
//   npm run bench -- --quick             a smoke run (under a minute)
//   npm run bench -- --frontend URL      latency sweep and throughput against a deployed frontend
//                                        (floors are still measured here; no failover or recovery)
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { TestCluster } from '../harness/cluster.ts';
import { fsyncLatencyMs, load, lruHitNs, round3, sequentialLatencyMs, startFloor } from './lib/measure.ts';
import { type CrashExperiment, crashExperiment } from './lib/crash-experiment.ts';
import { measureRecovery, type RecoverySummary } from './lib/recovery.ts';
import { type CatalogRebuild, measureCatalogRebuild } from './lib/catalog-rebuild.ts';
import { replacement, type ReplacementPoint } from './lib/replacement.ts';
import { computeTargets, latestAb, type Results, writeReport } from './lib/report.ts';
import { CRITICAL_PATH, sequentialTrades } from './lib/trade-path.ts';
import { runClient } from './lib/fixture.ts';
import { catalogOutage, failover, type FailoverRun, lookupThroughput, type OutageRun, orderThroughput, paired, type SweepPoint, sweepPoint, tradeRequests } from './lib/scenarios.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    frontend: { type: 'string' },
    /** The CA an https frontend's certificate is checked against (the cluster's ca.crt). */
    ca: { type: 'string' },
    seed: { type: 'string', default: '677' },
    report: { type: 'string', default: path.join(ROOT, 'docs', 'evaluation.md') },
    results: { type: 'string', default: path.join(ROOT, 'bench', 'results') },
    /** The A/B the report shows beside the run (a file in the results folder); the newest by default. */
    ab: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  process.stdout.write('npm run bench [-- --quick] [-- --frontend URL [--ca FILE]] [--seed N] [--report FILE] [--results DIR] [--ab FILE]\n  --ca: the CA an https frontend is checked against (the cluster\'s ca.crt)\n  --ab: the A/B (a bench/results/ab-*.json) the report shows and judges the A/B goals on; the newest by default\n');
  process.exit(0);
}

const quick = values.quick === true;
const remote = values.frontend === undefined ? undefined : new URL(values.frontend).origin;
const seed = Number(values.seed);
// Lookups are loaded with the floor's 16 connections; orders with 64, where batching on every hop shows.
const plan = quick
  ? { ps: [0, 0.4, 0.8], iterations: 60, durationS: 2, connections: 16, orderConnections: 64, sequentialTrades: 200, pairs: 1, failoverRounds: 2, crashRounds: 2, cacheSizes: [2, 11], recovery: [{ orders: 10_000, runs: 1 }], rebuild: [10_000] }
  : { ps: [0, 0.2, 0.4, 0.6, 0.8], iterations: 300, durationS: 6, connections: 16, orderConnections: 64, sequentialTrades: 1_000, pairs: 3, failoverRounds: 5, crashRounds: 6, cacheSizes: [2, 5, 11], recovery: [{ orders: 10_000, runs: 3 }, { orders: 100_000, runs: 3 }], rebuild: [100_000, 1_000_000] };

const caches = remote === undefined ? [true, false] : [true];
const totalSteps = 1 + (remote === undefined ? 1 : 0) + caches.length * plan.ps.length + (remote === undefined ? 3 : 2) + (remote === undefined ? 5 + plan.recovery.length + plan.rebuild.length : 0);
let step = 0;
const startedAt = Date.now();
function progress(message: string, advance = true): void {
  if (advance) step += 1;
  const elapsed = Math.round((Date.now() - startedAt) / 1000);
  process.stderr.write(`[${step}/${totalSteps} ${elapsed}s] ${message}\n`);
}

const started = new Date().toISOString();

progress('floors: bare node:http, one undici hop, loopback request, fdatasync, lru-cache hit');
const bare = await startFloor('bare');
const proxy = await startFloor('proxy', bare.url);
const floors = {
  bare_http: await load({ url: bare.url, connections: plan.connections, durationS: plan.durationS }),
  proxy_hop: await load({ url: proxy.url, connections: plan.connections, durationS: plan.durationS }),
  sequential_request_p50_ms: await sequentialLatencyMs(bare.url, '/', quick ? 500 : 2_000),
  append_fdatasync_p50_ms: await fsyncLatencyMs(quick ? 200 : 1_000),
  lru_hit_ns: lruHitNs(5_000_000),
  connections: plan.connections,
  duration_s: plan.durationS,
};
await proxy.stop();
await bare.stop();
progress(`  bare ${floors.bare_http.rps} req/s, one hop ${floors.proxy_hop.rps} req/s, fdatasync p50 ${floors.append_fdatasync_p50_ms} ms`, false);

let tradePath: Results['trade_path'] = null;
if (remote === undefined) {
  progress(`trade path: ${plan.sequentialTrades} sequential trades on a fresh cluster, against the floor of ${CRITICAL_PATH.roundTrips} round trips + ${CRITICAL_PATH.fsyncStages} fsync stages`);
  const measured = await sequentialTrades(plan.sequentialTrades);
  const floorMs = round3(CRITICAL_PATH.roundTrips * floors.sequential_request_p50_ms + CRITICAL_PATH.fsyncStages * floors.append_fdatasync_p50_ms);
  tradePath = { ...measured, round_trips: CRITICAL_PATH.roundTrips, fsync_stages: CRITICAL_PATH.fsyncStages, floor_ms: floorMs, ratio: round3(measured.p50_ms / floorMs) };
  progress(`  p50 ${measured.p50_ms} ms = ${tradePath.ratio} x the ${floorMs} ms floor; CPU ${measured.cpu_ms_per_trade.summed} ms per trade, all roles`, false);
}

const sweep: SweepPoint[] = [];
for (const cache of caches) {
  for (const p of plan.ps) {
    progress(`latency sweep: cache ${cache ? 'on' : 'off'}, p=${p}, 5 clients x ${plan.iterations} iterations`);
    let point: SweepPoint;
    if (remote === undefined) {
      point = await sweepPoint(cache, p, plan.iterations, seed);
    } else {
      const scratch = await TestCluster.create({ replicas: 1 });
      try {
        point = { cache, p, report: await runClient({ cluster: scratch }, remote, { p, iterations: plan.iterations, clients: 5, seed, ca: values.ca }), files: null };
      } finally {
        await scratch.destroy();
      }
    }
    const latency = point.report.latency;
    progress(`  lookup p50 ${latency.lookup.p50_ms} ms, trade p50 ${latency.trade.p50_ms} ms, errors ${point.report.errors}, files ${point.files === null ? '-' : point.files.identical && point.files.conserved ? 'ok' : 'PROBLEM'}`, false);
    sweep.push(point);
  }
}

/** The bare floor, measured right before each throughput measurement it is paired with, at the same connection count. */
const pairedFloor = (connections: number) => async () => {
  const server = await startFloor('bare');
  try {
    return await load({ url: server.url, connections, durationS: plan.durationS });
  } finally {
    await server.stop();
  }
};

let throughput: Results['throughput'];
if (remote === undefined) {
  progress(`throughput: cached lookups, ${plan.connections} connections, ${plan.durationS}s, ${plan.pairs} pair(s) with the floor`);
  const lookupCached = await paired(plan.pairs, pairedFloor(plan.connections), () => lookupThroughput(true, plan.connections, plan.durationS));
  progress(`throughput: lookups with caching off`);
  const lookupUncached = await paired(plan.pairs, pairedFloor(plan.connections), () => lookupThroughput(false, plan.connections, plan.durationS));
  progress(`throughput: orders with 3 replicas and fsync, ${plan.orderConnections} connections`);
  const orders = await paired(plan.pairs, pairedFloor(plan.orderConnections), () => orderThroughput(plan.orderConnections, plan.durationS));
  throughput = { lookup_cached: lookupCached, lookup_uncached: lookupUncached, orders };
} else {
  progress(`throughput: lookups against ${remote}`);
  const lookupCached = await paired(plan.pairs, pairedFloor(plan.connections), async () => ({ result: await load({ url: `${remote}/stocks/GameStart`, connections: plan.connections, durationS: plan.durationS }), files: null }));
  progress(`throughput: orders against ${remote}`);
  const orders = await paired(plan.pairs, pairedFloor(plan.orderConnections), async () => ({ result: await load({ url: remote, connections: plan.orderConnections, durationS: plan.durationS, requests: tradeRequests() }), files: null }));
  throughput = { lookup_cached: lookupCached, lookup_uncached: null, orders };
}
progress(`  cached lookups ${throughput.lookup_cached.result.rps} req/s (${throughput.lookup_cached.ratio} x floor), orders ${throughput.orders.result.rps}/s (${throughput.orders.ratio} x floor)`, false);

let failoverRun: FailoverRun | null = null;
let hangRun: FailoverRun | null = null;
let outageRun: OutageRun | null = null;
const recovery: RecoverySummary[] = [];
const catalogRebuild: CatalogRebuild[] = [];
let crash: CrashExperiment | null = null;
let replacementPoints: ReplacementPoint[] | null = null;
if (remote === undefined) {
  progress(`replacement: the cache smaller than the catalog, ${plan.cacheSizes.join(', ')} entries, uniform and skewed choice of stock`);
  replacementPoints = await replacement(plan.cacheSizes, plan.iterations, seed, (message) => progress(`  ${message}`, false));
  progress(`failover: ${plan.failoverRounds} rounds of killing the leader under 5 trading sessions`);
  failoverRun = await failover(plan.failoverRounds, seed, (message) => progress(`  ${message}`, false));
  progress(`hang: ${plan.failoverRounds} rounds of hanging the leader (SIGSTOP) under 5 trading sessions`);
  hangRun = await failover(plan.failoverRounds, seed + 1, (message) => progress(`  ${message}`, false), 'hang');
  progress(`catalog outage: ${plan.failoverRounds} rounds of kill -9 of the catalog under bazaar up, 5 sessions retrying`);
  outageRun = await catalogOutage(plan.failoverRounds, seed + 2, (message) => progress(`  ${message}`, false));
  progress(`crash experiment: ${plan.crashRounds} rounds of kill -9 of a random replica under 5 bazaar client processes, then their final check`);
  crash = await crashExperiment(plan.crashRounds, seed + 3, (message) => progress(`  ${message}`, false));
  for (const { orders, runs } of plan.recovery) {
    progress(`recovery: a replica that missed ${orders} orders, ${runs} run(s)`);
    recovery.push(await measureRecovery(orders, runs, (message) => progress(`  ${message}`, false)));
  }
  for (const orders of plan.rebuild) {
    progress(`catalog rebuild: ${orders} committed orders, the catalog's disk lost`);
    catalogRebuild.push(await measureCatalogRebuild(orders, (message) => progress(`  ${message}`, false)));
  }
}

const partial: Omit<Results, 'targets'> = {
  started_at: started,
  finished_at: new Date().toISOString(),
  quick,
  target: remote ?? 'a local cluster per scenario (bazaar up, 3 replicas)',
  command: `npm run bench${quick ? ' -- --quick' : ''}${remote === undefined ? '' : ` -- --frontend ${remote}`}${values.ab === undefined ? '' : ` -- --ab ${path.basename(values.ab)}`}`,
  machine: {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memory_gib: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    os: `${os.type()} ${os.release()}`,
  },
  floors,
  trade_path: tradePath,
  order_connections: plan.orderConnections,
  ab: await latestAb(values.results!, values.ab),
  tls_ab: await latestAb(values.results!, undefined, 'tls'),
  sweep,
  throughput,
  failover: failoverRun,
  hang: hangRun,
  catalog_outage: outageRun,
  recovery,
  catalog_rebuild: catalogRebuild,
  crash_experiment: crash,
  replacement: replacementPoints,
};
const results: Results = { ...partial, targets: computeTargets(partial) };

await mkdir(values.results!, { recursive: true });
const resultsPath = path.join(values.results!, `${started.replace(/[:.]/g, '-')}.json`);
await writeFile(resultsPath, `${JSON.stringify(results, null, 2)}\n`);
await writeReport(results, values.report!, resultsPath);
progress(`done in ${Math.round((Date.now() - startedAt) / 1000)}s: ${path.relative(ROOT, resultsPath)} and ${path.relative(ROOT, values.report!)}`, false);
for (const target of results.targets) process.stderr.write(`  ${target.met === true ? 'met   ' : target.met === false ? 'MISSED' : '      '} ${target.name}: ${target.measured} (goal ${target.goal})\n`);
