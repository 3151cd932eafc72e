// The recovery scenario: a replica that missed N orders comes back; how long until it holds the
// leader's whole log, how much memory it used, and whether the leader kept serving. See bench/README.md.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { BUNDLE_COMMAND, http, postOrder, type Proc, TestCluster } from '../../harness/cluster.ts';
import { median } from './measure.ts';
import { peakRssMb, seedLogs } from './seeded-logs.ts';

const WAIT_MS_MAX = 120_000;

export interface RecoveryRun {
  readonly catchup_ms: number;
  readonly follower_peak_rss_mb: number;
  readonly leader_peak_rss_mb: number;
  readonly trades_during_catchup: number;
  readonly trade_max_ms_during_catchup: number;
  readonly logs_identical: boolean;
}

async function run(orders: number): Promise<RecoveryRun> {
  const cluster = await TestCluster.create({ replicas: 3, command: BUNDLE_COMMAND });
  try {
    await seedLogs(cluster, [2, 3], orders);
    const [, , leader] = await Promise.all([cluster.start('catalog'), cluster.start(2), cluster.start(3)]);
    await cluster.start('frontend');
    const api = cluster.url('frontend');
    const first = await http(`${api}/orders/0`);
    if (first.status !== 200) throw new Error(`the cluster did not come up: ${first.text}`);

    // Trade in a loop while replica 1 catches up.
    let catching = true;
    let trades = 0;
    let tradeMaxMs = 0;
    const trading = (async () => {
      while (catching) {
        const startedAt = performance.now();
        const reply = await postOrder(api, { name: 'FishCo', quantity: 1, type: 'sell' });
        if (reply.status !== 200) throw new Error(`a trade failed during catch-up: ${reply.text}`);
        tradeMaxMs = Math.max(tradeMaxMs, performance.now() - startedAt);
        trades += 1;
      }
    })();

    const follower: Proc = cluster.spawn(['order', '--id', '1']);
    await follower.waitFor(/listening on/);
    const startedAt = performance.now();
    const deadline = Date.now() + WAIT_MS_MAX;
    for (;;) {
      const health = (await http(`${cluster.url(1)}/health`)).body as { data: { lastNumber: number; logEpoch: number; epoch: number } };
      if (health.data.lastNumber >= orders - 1 && health.data.logEpoch === health.data.epoch && health.data.epoch > 1) break;
      if (Date.now() > deadline) throw new Error(`replica 1 did not catch up within ${WAIT_MS_MAX} ms`);
      await sleep(5);
    }
    const catchupMs = performance.now() - startedAt;
    catching = false;
    await trading;
    const followerRss = await peakRssMb(follower.pid);
    const leaderRss = await peakRssMb(leader!.pid);

    await sleep(300);
    const hashes = await Promise.all([1, 2, 3].map(async (id) => createHash('sha256').update(await readFile(cluster.orderLogPath(id))).digest('hex')));
    return {
      catchup_ms: Math.round(catchupMs),
      follower_peak_rss_mb: Math.round(followerRss),
      leader_peak_rss_mb: Math.round(leaderRss),
      trades_during_catchup: trades,
      trade_max_ms_during_catchup: Math.round(tradeMaxMs * 10) / 10,
      logs_identical: new Set(hashes).size === 1,
    };
  } finally {
    await cluster.destroy();
  }
}

export interface RecoverySummary {
  readonly orders: number;
  readonly runs: number;
  readonly median_catchup_ms: number;
  readonly median_follower_peak_rss_mb: number;
  readonly median_leader_peak_rss_mb: number;
  readonly median_trades_during_catchup: number;
  readonly median_trade_max_ms_during_catchup: number;
  readonly all_logs_identical: boolean;
  readonly results: readonly RecoveryRun[];
}

/** Runs the recovery scenario `runs` times with `orders` missed orders; medians over the runs. */
export async function measureRecovery(orders: number, runs: number, progress: (message: string) => void = () => {}): Promise<RecoverySummary> {
  const results: RecoveryRun[] = [];
  for (let index = 0; index < runs; index += 1) {
    progress(`recovery: run ${index + 1}/${runs}, ${orders} missed orders`);
    results.push(await run(orders));
  }
  return {
    orders,
    runs,
    median_catchup_ms: median(results.map((result) => result.catchup_ms)),
    median_follower_peak_rss_mb: median(results.map((result) => result.follower_peak_rss_mb)),
    median_leader_peak_rss_mb: median(results.map((result) => result.leader_peak_rss_mb)),
    median_trades_during_catchup: median(results.map((result) => result.trades_during_catchup)),
    median_trade_max_ms_during_catchup: median(results.map((result) => result.trade_max_ms_during_catchup)),
    all_logs_identical: results.every((result) => result.logs_identical),
    results,
  };
}
