// One side of an A/B (bench/ab.ts runs it in a child process per run, with BAZAAR_BUNDLE naming the
// bundle under test): fresh clusters, the trade's floor and sequential trades against it, the lab's
// run, and two throughputs (orders at 64 connections, with CPU per order; cached lookups at 16),
// each paired with a bare floor measured just before it. Prints one JSON line. A side run with the
// cluster's TLS (BAZAAR_BENCH_TLS=1) measures its floors over TLS 1.3 too (a bare node:https
// server), so that its ratios say how close it comes to what TLS allows on this machine.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { issue, makeCa } from '../src/tls/certs.ts';
import { fsyncLatencyMs, load, measured, sequentialLatencyMs, startFloor } from './lib/measure.ts';
import type { FilesCheck } from './lib/fixture.ts';
import { lookupThroughput, orderThroughput, sweepPoint } from './lib/scenarios.ts';
import { CRITICAL_PATH, sequentialTrades } from './lib/trade-path.ts';

const iterations = Number(process.env.AB_ITERATIONS ?? 200);
const durationS = Number(process.env.AB_DURATION_S ?? 4);
/** Lookups run at the floor's 16 connections; trades at 64, where batching shows (issue 12 asks for 64). */
const connections = 16;
const tradeConnections = 64;

const tlsFloor = process.env.BAZAAR_BENCH_TLS === '1' ? await floorCertificate() : undefined;

/** A certificate for the TLS floor server, in a temporary folder. */
async function floorCertificate(): Promise<{ dir: string; cert: string; key: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'bazaar-floor-tls-'));
  const validity = { notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 86_400_000) };
  const pem = await issue(await makeCa('floor', validity), { name: 'floor', cluster: 'floor', hosts: ['127.0.0.1'], ...validity });
  const files = { dir, cert: path.join(dir, 'floor.crt'), key: path.join(dir, 'floor.key') };
  await writeFile(files.cert, pem.cert);
  await writeFile(files.key, pem.key, { mode: 0o600 });
  return files;
}

function bareFloor(): ReturnType<typeof startFloor> {
  return tlsFloor === undefined ? startFloor('bare') : startFloor('bare-tls', tlsFloor.cert, tlsFloor.key);
}

async function floor(connectionCount: number): Promise<number> {
  const server = await bareFloor();
  try {
    return (await load({ url: server.url, connections: connectionCount, durationS })).rps;
  } finally {
    await server.stop();
  }
}

// The trade's floor, measured here: a bare request between two processes, and append + fdatasync.
const hopServer = await bareFloor();
const hopMs = await sequentialLatencyMs(hopServer.url, '/', 2_000);
await hopServer.stop();
const fsyncMs = await fsyncLatencyMs(1_000);
const floorMs = CRITICAL_PATH.roundTrips * hopMs + CRITICAL_PATH.fsyncStages * fsyncMs;
const sequential = await sequentialTrades(1_000);

const lab = await sweepPoint(true, 0.4, iterations, 677);
const ordersFloor = await floor(tradeConnections);
const orders = await orderThroughput(tradeConnections, durationS);
const lookupsFloor = await floor(connections);
const lookups = await lookupThroughput(true, connections, durationS);
if (tlsFloor !== undefined) await rm(tlsFloor.dir, { recursive: true, force: true });
function fileProblem(what: string, files: FilesCheck | null): string[] {
  if (files === null) return [`${what}: files not checked`];
  if (files.identical && files.conserved) return [];
  return [`${what}: logs ${files.identical ? 'identical' : 'NOT identical'}, catalog ${files.conserved ? '= log' : '!= log'}${files.problem === undefined ? '' : ` (${files.problem})`}`];
}

const problems = [
  ...(lab.report.errors > 0 ? [`lab run: ${lab.report.errors} errors (${lab.report.error_samples.slice(0, 3).join('; ')})`] : []),
  ...(lab.report.mismatches > 0 ? [`lab run: ${lab.report.mismatches} mismatches`] : []),
  ...fileProblem('lab run', lab.files),
  ...fileProblem('order throughput', orders.files),
];
process.stdout.write(
  `${JSON.stringify({
    ok: problems.length === 0,
    problems: problems.join(' | '),
    sequential_trade_p50_ms: sequential.p50_ms,
    hop_floor_ms: hopMs,
    fsync_floor_ms: fsyncMs,
    trade_floor_ms: floorMs,
    sequential_trade_vs_floor: sequential.p50_ms / floorMs,
    cpu_ms_per_trade: sequential.cpu_ms_per_trade.summed!,
    trade_p50_ms: measured(lab.report.latency.trade.p50_ms, 'trade p50'),
    lookup_p50_ms: measured(lab.report.latency.lookup.p50_ms, 'lookup p50'),
    query_p50_ms: measured(lab.report.latency.order_query.p50_ms, 'order query p50'),
    orders_per_s: orders.result.rps,
    orders_ratio: orders.result.rps / ordersFloor,
    cpu_ms_per_order: orders.cpu_ms_per_order.summed!,
    lookups_per_s: lookups.result.rps,
    lookups_ratio: lookups.result.rps / lookupsFloor,
  })}\n`,
);
