// The benchmarks' cluster: a fresh `bazaar up` of the bundle (harness/cluster.ts, the fixture the
// tests use too) for the length of one experiment, the check of its files afterwards, and the
// client run as a process. The experiments themselves are in scenarios.ts and beside it.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as admin from '../../src/admin/index.ts';
import type { ClientReport } from '../../src/client/index.ts';
import { type Config, loadConfig } from '../../src/core/config.ts';
import { assertConserved, catalogStocks, readOrderLog } from '../../harness/checks.ts';
import { BUNDLE_COMMAND, type Proc, TestCluster } from '../../harness/cluster.ts';

const SETTLE_MS_MAX = 20_000;

export interface LocalCluster {
  readonly cluster: TestCluster;
  readonly config: Config;
  readonly up: Proc;
}

/**
 * A fresh cluster of three replicas under `bazaar up`, for the length of `work`; with the cluster's
 * TLS when BAZAAR_BENCH_TLS=1 (bench/ab.ts sets it for a side given --base-tls or --candidate-tls).
 */
export async function withCluster<T>(options: { cache: boolean; cacheSize?: number }, work: (local: LocalCluster) => Promise<T>): Promise<T> {
  const cluster = await TestCluster.create({ replicas: 3, command: BUNDLE_COMMAND, tls: process.env.BAZAAR_BENCH_TLS === '1' });
  try {
    const up = cluster.spawn(['up', ...(options.cache ? [] : ['--no-cache']), ...(options.cacheSize === undefined ? [] : ['--cache-size', String(options.cacheSize)])], { BAZAAR_LOG_LEVEL: 'warn' });
    await up.waitFor(/Stock Bazaar is up/);
    const result = await work({ cluster, config: loadConfig(cluster.configPath), up });
    await up.stop('SIGINT');
    return result;
  } finally {
    await cluster.destroy();
  }
}

export interface FilesCheck {
  /** sha256 of each replica's order log, by replica id. */
  readonly hashes: Record<string, string>;
  readonly identical: boolean;
  readonly orders: number;
  /** G4: the catalog's quantities and volumes equal what the order log implies. */
  readonly conserved: boolean;
  readonly problem?: string;
}

/**
 * Waits until every replica holds the same log, then hashes the files and checks conservation. A
 * write still in flight when the lengths first agree (its bytes in the file, its fsync not done) can
 * make the hashes differ for a moment, so unequal hashes are looked at again until the deadline;
 * logs that really diverged stay unequal, and their lengths are reported.
 */
export async function checkFiles({ cluster, config }: LocalCluster): Promise<FilesCheck> {
  const deadline = Date.now() + SETTLE_MS_MAX;
  const hashes: Record<string, string> = {};
  let status: admin.ClusterStatus;
  for (;;) {
    status = await admin.status(config);
    const numbers = new Set(status.orders.map((order) => order.health?.lastNumber));
    if ((status.orders.every((order) => order.up) && numbers.size === 1) || Date.now() > deadline) {
      for (const replica of config.orders) {
        hashes[replica.id] = createHash('sha256').update(await readFile(cluster.orderLogPath(replica.id))).digest('hex');
      }
      if (new Set(Object.values(hashes)).size === 1 || Date.now() > deadline) break;
    }
    await sleep(50);
  }
  const identical = new Set(Object.values(hashes)).size === 1;
  const log = await readOrderLog(cluster.orderLogPath(config.orders.at(-1)!.id));
  let unconserved: string | undefined;
  try {
    assertConserved(log, await catalogStocks(cluster.url('catalog')));
  } catch (error) {
    unconserved = (error as Error).message;
  }
  const lengths = status.orders.map((order) => `replica ${order.id}: ${order.up ? `last order ${order.health?.lastNumber}` : 'down'}`).join(', ');
  const problems = [...(identical ? [] : [`logs differ after ${SETTLE_MS_MAX} ms (${lengths})`]), ...(unconserved === undefined ? [] : [unconserved])];
  return { hashes, identical, orders: log.length, conserved: unconserved === undefined, ...(problems.length === 0 ? {} : { problem: problems.join('; ') }) };
}

/** Runs `bazaar client` as a process (five sessions by default) and returns its JSON report. */
export async function runClient(local: { cluster: TestCluster }, frontend: string, args: { p: number; iterations: number; clients: number; seed: number; skew?: number; ca?: string | undefined }): Promise<ClientReport> {
  const reportPath = path.join(local.cluster.dir, `client-${args.p}-${args.seed}-${args.skew ?? 0}.json`);
  const client = local.cluster.spawn([
    'client',
    '--frontend', frontend,
    '--p', String(args.p),
    '--iterations', String(args.iterations),
    '--clients', String(args.clients),
    '--seed', String(args.seed),
    // Only when asked: builds from before --skew refuse the flag, and bench:ab runs them too.
    ...(args.skew === undefined || args.skew === 0 ? [] : ['--skew', String(args.skew)]),
    ...(args.ca === undefined ? [] : ['--ca', args.ca]),
    '--json', reportPath,
  ]);
  const { code } = await client.exited;
  const report = JSON.parse(await readFile(reportPath, 'utf8')) as ClientReport;
  if (code !== 0 && report.ok) throw new Error(`bazaar client exited with ${code}:\n${client.output}`);
  return report;
}

