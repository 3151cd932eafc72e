// Recovery benchmark: a replica that missed N orders (default 100,000) comes back; how long until it
// holds the leader's whole log, how much memory it used, and whether the leader kept serving.
//
// Method: two replicas' logs are seeded on disk with N synthetic orders (epoch 1, led by replica 3);
// the third replica's log is empty. The cluster starts (the bundle, dist/bazaar.mjs), one request
// makes the frontend choose replica 3 for epoch 2, and then replica 1 starts. Timed from the moment
// replica 1 logs "listening" (its own start-up excluded) until its health shows N orders in the
// current log epoch. Meanwhile one client trades in a loop through the frontend. Peak RSS is
// VmHWM from /proc. Repeated --runs times (default 3); medians are reported.
//
//   node --import tsx bench/recovery.ts [--orders 100000] [--runs 3] [--json FILE]
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { BUNDLE_COMMAND, http, postOrder, type Proc, TestCluster } from '../test/helpers/cluster.ts';

const { values } = parseArgs({ options: { orders: { type: 'string', default: '100000' }, runs: { type: 'string', default: '3' }, json: { type: 'string' } } });
const ORDERS = Number(values.orders);
const RUNS = Number(values.runs);
const STOCKS = ['GameStart', 'FishCo', 'BoarCo', 'MenhirCo'];
const WAIT_MS_MAX = 120_000;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

async function peakRssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}

async function seed(cluster: TestCluster): Promise<void> {
  const lines: string[] = [];
  for (let number = 0; number < ORDERS; number += 1) {
    // Sells only, so the seeded orders never run a stock out; fields in the log's canonical order.
    lines.push(JSON.stringify({ number, epoch: 1, key: `seed-${number}`, name: STOCKS[number % STOCKS.length], type: 'sell', quantity: 1 }));
  }
  const text = `${lines.join('\n')}\n`;
  for (const id of [2, 3]) {
    await mkdir(path.dirname(cluster.orderLogPath(id)), { recursive: true });
    await writeFile(cluster.orderLogPath(id), text);
    await writeFile(path.join(path.dirname(cluster.orderLogPath(id)), 'state.json'), `${JSON.stringify({ epoch: 1, leaderId: 3, logEpoch: 1 })}\n`);
  }
}

interface RunResult {
  readonly catchup_ms: number;
  readonly follower_peak_rss_mb: number;
  readonly leader_peak_rss_mb: number;
  readonly trades_during_catchup: number;
  readonly trade_max_ms_during_catchup: number;
  readonly logs_identical: boolean;
}

async function run(): Promise<RunResult> {
  const cluster = await TestCluster.create({ replicas: 3, command: BUNDLE_COMMAND });
  try {
    await seed(cluster);
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
      if (health.data.lastNumber >= ORDERS - 1 && health.data.logEpoch === health.data.epoch && health.data.epoch > 1) break;
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

const results: RunResult[] = [];
for (let index = 0; index < RUNS; index += 1) {
  process.stderr.write(`recovery: run ${index + 1}/${RUNS}, ${ORDERS} missed orders…\n`);
  const result = await run();
  process.stderr.write(`  ${JSON.stringify(result)}\n`);
  results.push(result);
}
const summary = {
  orders: ORDERS,
  runs: RUNS,
  median_catchup_ms: median(results.map((result) => result.catchup_ms)),
  median_follower_peak_rss_mb: median(results.map((result) => result.follower_peak_rss_mb)),
  median_leader_peak_rss_mb: median(results.map((result) => result.leader_peak_rss_mb)),
  median_trades_during_catchup: median(results.map((result) => result.trades_during_catchup)),
  median_trade_max_ms_during_catchup: median(results.map((result) => result.trade_max_ms_during_catchup)),
  all_logs_identical: results.every((result) => result.logs_identical),
  results,
};
process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
if (values.json !== undefined) await writeFile(values.json, `${JSON.stringify(summary, null, 2)}\n`);
