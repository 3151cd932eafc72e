// The catalog rebuilt from the order log: three replicas agree on N committed orders, the catalog
// starts with no disk at all; how long until it is level with the log and serves, and how much
// memory it took. Then its start-up from its own checkpoint, and again with the folder deleted. See
// bench/README.md.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { BUNDLE_COMMAND, http, type Proc, TestCluster, waitHealthy } from '../../harness/cluster.ts';
import { peakRssMb, SEEDED_STOCKS, seedLogs } from './seeded-logs.ts';

const WAIT_MS_MAX = 600_000;

/** Starts the catalog and waits until it serves; milliseconds from spawn. */
async function startCatalog(cluster: TestCluster): Promise<{ proc: Proc; ms: number }> {
  const startedAt = performance.now();
  const proc = cluster.spawn(['catalog']);
  await waitHealthy(cluster.url('catalog'), proc, WAIT_MS_MAX, (data) => data.ready === true, 'level with the order log');
  return { proc, ms: Math.round(performance.now() - startedAt) };
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
    await seedLogs(cluster, [1, 2, 3], orders);
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
    const conserved = SEEDED_STOCKS.every((name, index) => {
      const count = Math.floor(orders / SEEDED_STOCKS.length) + (index < orders % SEEDED_STOCKS.length ? 1 : 0);
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
