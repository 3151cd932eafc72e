// The catalog rebuilt from the order log: three replicas agree on N committed orders, the catalog
// starts with no disk at all; how long until it is level with the log and serves, and how much
// memory it took. Then its start-up from its own checkpoint, and again with the folder deleted. See
// bench/README.md.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BUNDLE_COMMAND, http, type Proc, TestCluster, waitHealthy } from '../../harness/cluster.ts';
import { jsonlLine } from '../../src/storage/jsonl.ts';

const STOCKS = ['GameStart', 'FishCo', 'BoarCo', 'MenhirCo'];
const WAIT_MS_MAX = 600_000;

async function peakRssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}

/** Every replica's log holds the same `orders` committed sells, in chunks so the text never needs to be whole in memory. */
async function seed(cluster: TestCluster, orders: number): Promise<void> {
  const chunk = 100_000;
  for (const id of [1, 2, 3]) {
    await mkdir(path.dirname(cluster.orderLogPath(id)), { recursive: true });
    await writeFile(cluster.orderLogPath(id), '');
    await writeFile(path.join(path.dirname(cluster.orderLogPath(id)), 'state.json'), `${JSON.stringify({ epoch: 1, leaderId: 3, logEpoch: 1 })}\n`);
  }
  for (let start = 0; start < orders; start += chunk) {
    const lines: string[] = [];
    for (let number = start; number < Math.min(orders, start + chunk); number += 1) {
      lines.push(jsonlLine({ number, epoch: 1, key: `seed-${number}`, name: STOCKS[number % STOCKS.length], type: 'sell', quantity: 1 }));
    }
    const text = lines.join('');
    for (const id of [1, 2, 3]) await writeFile(cluster.orderLogPath(id), text, { flag: 'a' });
  }
}

/** Starts the catalog and waits until it serves; milliseconds from spawn. */
async function startCatalog(cluster: TestCluster): Promise<{ proc: Proc; ms: number }> {
  const startedAt = performance.now();
  const proc = cluster.spawn(['catalog']);
  const deadline = Date.now() + WAIT_MS_MAX;
  for (;;) {
    if (!proc.running) throw new Error(`the catalog exited:\n${proc.output}`);
    try {
      const health = (await http(`${cluster.url('catalog')}/health`, { timeoutMs: 1_000 })).body as { data?: { ready?: boolean } };
      if (health.data?.ready === true) return { proc, ms: Math.round(performance.now() - startedAt) };
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) throw new Error(`the catalog was not level within ${WAIT_MS_MAX} ms`);
    await sleep(5);
  }
}

export interface CatalogRebuild {
  readonly orders: number;
  /** From nothing (no data folder) to serving: the rebuild from the order log. */
  readonly rebuild_ms: number;
  readonly catalog_peak_rss_mb: number;
  /** Restarted with its checkpoint (a clean stop wrote it): start-up to serving. */
  readonly restart_with_checkpoint_ms: number;
  /** Restarted with its data folder deleted. */
  readonly restart_without_checkpoint_ms: number;
  readonly conserved: boolean;
}

export async function measureCatalogRebuild(orders: number, progress: (message: string) => void = () => {}): Promise<CatalogRebuild> {
  const cluster = await TestCluster.create({ replicas: 3, command: BUNDLE_COMMAND });
  try {
    progress(`catalog rebuild: seeding ${orders} orders into three logs`);
    await seed(cluster, orders);
    // A replica opening a log of a million orders with no key index builds one first: give it time.
    progress('catalog rebuild: starting the replicas (each indexes its log)');
    const replicasAt = performance.now();
    await Promise.all([1, 2, 3].map((id) => waitHealthy(cluster.url(id), cluster.spawn(['order', '--id', String(id)]), WAIT_MS_MAX)));
    progress(`catalog rebuild: replicas up in ${Math.round(performance.now() - replicasAt)} ms`);
    await cluster.start('frontend');
    progress('catalog rebuild: from nothing');
    const first = await startCatalog(cluster);
    const rss = await peakRssMb(first.proc.pid);
    const stocks = (await http(`${cluster.url('catalog')}/stocks`)).body as { data: Array<{ name: string; quantity: number; volume: number }> };
    const conserved = STOCKS.every((name, index) => {
      const count = Math.floor(orders / STOCKS.length) + (index < orders % STOCKS.length ? 1 : 0);
      const stock = stocks.data.find((item) => item.name === name);
      return stock !== undefined && stock.quantity === 100 + count && stock.volume === count;
    });
    await first.proc.stop();
    progress('catalog rebuild: from its checkpoint');
    const withCheckpoint = await startCatalog(cluster);
    await withCheckpoint.proc.stop();
    await rm(path.join(cluster.dataDir, 'catalog'), { recursive: true, force: true });
    progress('catalog rebuild: with its folder deleted');
    const without = await startCatalog(cluster);
    await without.proc.stop();
    return { orders, rebuild_ms: first.ms, catalog_peak_rss_mb: Math.round(rss), restart_with_checkpoint_ms: withCheckpoint.ms, restart_without_checkpoint_ms: without.ms, conserved };
  } finally {
    await cluster.destroy();
  }
}
