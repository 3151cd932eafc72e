// A replica whose disk is lost comes back empty and recovers from its peers: how long until it counts
// again, idle and under load, and what the trades meanwhile cost against the same run without it.
// Three replicas hold N committed orders; replica 1 is killed and its data folder removed, then it
// starts again (or, for the run without recovery, is left alone). See bench/README.md.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { percentile } from '../../src/client/stats.ts';
import { BUNDLE_COMMAND, http, postOrder, type Proc, TestCluster, waitCatalogReady, waitHealthy } from '../../harness/cluster.ts';
import { peakRssMb, seedLogs } from './seeded-logs.ts';

const WAIT_MS_MAX = 300_000;
/** Traders during a run under load: the lab's five clients, each trading one order at a time. */
const TRADERS = 5;
/** How long the run without recovery trades, when no recovery sets the window. */
const WINDOW_MS_WITHOUT_RECOVERY = 5_000;

export interface LostDiskRun {
  readonly orders: number;
  readonly load: boolean;
  readonly recovery: boolean;
  /** From the replica's start to its counting again; null for the run without recovery. */
  readonly recovered_ms: number | null;
  readonly recovering_peak_rss_mb: number | null;
  readonly trades: number;
  readonly trade_p50_ms: number | null;
  readonly trade_p99_ms: number | null;
}

async function replicaHealth(url: string): Promise<{ state: string; lastNumber: number } | undefined> {
  try {
    const reply = await http(`${url}/health`, { timeoutMs: 2_000 });
    return reply.status === 200 ? (reply.body as { data: { state: string; lastNumber: number } }).data : undefined;
  } catch {
    return undefined;
  }
}

export async function lostDiskRun(orders: number, options: { load: boolean; recovery: boolean }): Promise<LostDiskRun> {
  const cluster = await TestCluster.create({ replicas: 3, command: BUNDLE_COMMAND });
  try {
    await seedLogs(cluster, [1, 2, 3], orders);
    // A million-order log takes a while to open (every line checked, the key index built): wait for it.
    const start = async (role: 'catalog' | 'frontend' | number): Promise<Proc> => {
      const proc = cluster.spawn(typeof role === 'number' ? ['order', '--id', String(role)] : [role]);
      await waitHealthy(cluster.url(role), proc, WAIT_MS_MAX);
      return proc;
    };
    const [catalog, first] = await Promise.all([start('catalog'), start(1), start(2), start(3)]);
    await start('frontend');
    await waitCatalogReady(cluster.url('catalog'), catalog, WAIT_MS_MAX);
    if (options.recovery) {
      await first!.crash();
      await rm(path.dirname(cluster.orderLogPath(1)), { recursive: true, force: true });
    }

    let trading = options.load;
    const samples: number[] = [];
    const traders = Array.from({ length: options.load ? TRADERS : 0 }, async (_, index) => {
      while (trading) {
        const startedAt = performance.now();
        const reply = await postOrder(cluster.url('frontend'), { name: index % 2 === 0 ? 'FishCo' : 'GameStart', quantity: 1, type: 'sell' });
        if (reply.status !== 200) throw new Error(`a trade failed: ${reply.text}`);
        samples.push(performance.now() - startedAt);
      }
    });

    let recoveredMs: number | null = null;
    let rss: number | null = null;
    if (options.recovery) {
      const replica: Proc = cluster.spawn(['order', '--id', '1']);
      await replica.waitFor(/listening on/);
      const startedAt = performance.now();
      const deadline = Date.now() + WAIT_MS_MAX;
      for (;;) {
        const health = await replicaHealth(cluster.url(1));
        if (health !== undefined && health.state !== 'recovering' && health.lastNumber >= orders - 1) break;
        if (Date.now() > deadline) throw new Error(`replica 1 did not recover within ${WAIT_MS_MAX} ms`);
        await sleep(5);
      }
      recoveredMs = performance.now() - startedAt;
      rss = await peakRssMb(replica.pid);
    } else {
      await sleep(WINDOW_MS_WITHOUT_RECOVERY);
    }
    trading = false;
    await Promise.all(traders);
    samples.sort((a, b) => a - b);
    const round = (value: number | null): number | null => (value === null ? null : Math.round(value * 100) / 100);
    return {
      orders,
      load: options.load,
      recovery: options.recovery,
      recovered_ms: recoveredMs === null ? null : Math.round(recoveredMs),
      recovering_peak_rss_mb: rss === null ? null : Math.round(rss),
      trades: samples.length,
      trade_p50_ms: round(samples.length === 0 ? null : percentile(samples, 0.5)),
      trade_p99_ms: round(samples.length === 0 ? null : percentile(samples, 0.99)),
    };
  } finally {
    await cluster.destroy();
  }
}
