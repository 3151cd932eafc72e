// Fault scenarios against `bazaar up` with real processes: replicas crash (SIGKILL) and hang
// (SIGSTOP) while clients trade; afterwards G1-G4 and G6 are checked from the outside.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import * as admin from '../../src/admin/index.ts';
import * as client from '../../src/client/index.ts';
import { seededRandom } from '../../src/client/random.ts';
import { type Config, loadConfig } from '../../src/core/config.ts';
import { assertConserved, catalogStocks, readOrderLog } from '../../harness/checks.ts';
import { http, postOrder, type Proc, TestCluster } from '../../harness/cluster.ts';
import { until } from '../../harness/wait.ts';

const SEED = 677;
const ROUNDS = 6;
/** G6's "a few hundred milliseconds" for a hung replica, with room for a loaded 2-core CI machine. */
const HANG_COST_MS_MAX = 1_000;

async function leaderId(cluster: TestCluster): Promise<number> {
  return until('the frontend has a leader', async () => {
    const reply = await http(`${cluster.url('frontend')}/health`);
    const leader = (reply.body as { data?: { leader?: number | null } }).data?.leader;
    return typeof leader === 'number' ? leader : undefined;
  });
}

/** Every replica up, in the current epoch with its whole starting log, and (when idle) equally long. */
async function converged(config: Config, idle: boolean): Promise<admin.ClusterStatus> {
  return until(idle ? 'every replica holds the same log' : 'every replica has rejoined', async () => {
    const status = await admin.status(config);
    const epochs = status.orders.map((order) => order.health?.epoch);
    const ok =
      status.orders.every((order) => order.up && order.health?.logEpoch === order.health?.epoch) &&
      new Set(epochs).size === 1 &&
      (!idle || new Set(status.orders.map((order) => order.health?.lastNumber)).size === 1);
    return ok ? status : undefined;
  });
}

async function sha256(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}

/** After a run: identical logs (G3), catalog = log (G4), and exactly the client's orders, once each (G1, G2). */
async function assertEndState(cluster: TestCluster, config: Config, ordersPlaced: number): Promise<void> {
  await converged(config, true);
  const hashes = await Promise.all(config.orders.map((replica) => sha256(cluster.orderLogPath(replica.id))));
  assert.equal(new Set(hashes).size, 1, `the order logs are byte-identical: ${hashes.join(' ')}`);
  const log = await readOrderLog(cluster.orderLogPath(config.orders[0]!.id));
  assertConserved(log, await catalogStocks(cluster.url('catalog')));
  assert.equal(log.length, ordersPlaced, 'the log holds every acknowledged order exactly once');
}

function startClient(cluster: TestCluster, config: Config, seed: number, signal: AbortSignal): Promise<client.ClientReport> {
  return client.run({
    frontend: cluster.url('frontend'),
    p: 0.6,
    iterations: 1_000_000,
    clients: 5,
    seed,
    stocks: config.catalog.stocks.map((stock) => stock.name),
    signal,
  });
}

describe(`chaos: replicas crash and recover while clients trade (seed ${SEED})`, () => {
  let cluster: TestCluster;
  let up: Proc;
  let config: Config;
  /** Orders acknowledged so far in this cluster, across tests. */
  let placed = 0;
  before(async () => {
    cluster = await TestCluster.create({ replicas: 3 });
    config = loadConfig(cluster.configPath);
    up = cluster.spawn(['up']);
    await up.waitFor(/Stock Bazaar is up/);
  });
  after(() => cluster.destroy());

  test('kill -9 of a random replica (the leader every third round) causes no client error; logs converge; nothing lost or doubled', async (t) => {
    const random = seededRandom(SEED);
    const stop = new AbortController();
    const running = startClient(cluster, config, SEED, stop.signal);
    const victims: string[] = [];
    try {
      await sleep(300);
      for (let round = 0; round < ROUNDS; round += 1) {
        const leader = await leaderId(cluster);
        const victim = round % 3 === 0 ? leader : random.pick(config.orders).id;
        victims.push(victim === leader ? `${victim} (leader)` : String(victim));
        await admin.crash(config, victim);
        await sleep(random.int(150, 400));
        await admin.recover(config, victim);
        await converged(config, false);
      }
      await sleep(200);
    } finally {
      stop.abort();
    }
    const report = await running;
    const diagnosis = `victims ${victims.join(', ')}\n${client.formatReport(report)}`;
    t.diagnostic(`victims ${victims.join(', ')}; ${report.orders_placed} orders; trade p50 ${report.latency.trade.p50_ms} ms, max ${report.latency.trade.max_ms} ms`);
    assert.equal(report.errors, 0, `no client-visible error (G6)\n${diagnosis}`);
    assert.equal(report.mismatches, 0, diagnosis);
    assert.ok(report.orders_placed > 100, `orders flowed during the chaos\n${diagnosis}`);
    placed += report.orders_placed;
    await assertEndState(cluster, config, placed);
  });

  test('a hung leader (SIGSTOP) is passed over within a few hundred ms; when it wakes it cannot write, and it rejoins', async (t) => {
    const stop = new AbortController();
    const running = startClient(cluster, config, SEED + 1, stop.signal);
    let stopped: number | undefined;
    try {
      await sleep(300);
      const hung = await leaderId(cluster);
      const status = await admin.status(config);
      const pid = Number((await controlHealth(cluster)).children[`order-${hung}`]?.pid);
      assert.ok(pid > 0 && status.orders.find((order) => order.id === hung)?.health?.state === 'leader');
      process.kill(pid, 'SIGSTOP');
      stopped = pid;
      const successor = await until('another replica leads', async () => {
        const leader = await leaderId(cluster);
        return leader !== hung ? leader : undefined;
      });
      await sleep(500);

      // The old leader wakes up believing it still leads its epoch. It must not get an order
      // acknowledged: its followers have moved on to a newer epoch.
      process.kill(pid, 'SIGCONT');
      stopped = undefined;
      const direct = await http(`${cluster.url(hung)}/orders`, {
        method: 'POST',
        body: JSON.stringify({ key: 'from-the-stale-leader', name: 'FishCo', type: 'buy', quantity: 1 }),
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(direct.status, 503, `the stale leader refuses: ${direct.text}`);
      // It may have had the catalog apply the trade before it learned it is stale; retried with the
      // same key through the frontend, the trade is logged once and applied once (G2, G4).
      const retried = await postOrder(cluster.url('frontend'), { name: 'FishCo', type: 'buy', quantity: 1 }, { 'idempotency-key': 'from-the-stale-leader' });
      assert.equal(retried.status, 200, retried.text);
      assert.notEqual(await leaderId(cluster), undefined);
      assert.ok(successor !== hung);
      await converged(config, false);
      await sleep(200);
    } finally {
      if (stopped !== undefined) process.kill(stopped, 'SIGCONT');
      stop.abort();
    }
    const report = await running;
    t.diagnostic(`${report.orders_placed} orders; trade p50 ${report.latency.trade.p50_ms} ms, max ${report.latency.trade.max_ms} ms (includes finding the hang)`);
    assert.equal(report.errors, 0, `no client-visible error while the leader hung (G6)\n${client.formatReport(report)}`);
    // G6: a hung leader costs a request a few hundred milliseconds at most (the link gives a silent
    // peer up after LINK_SILENCE_MAX_MS; before, the 3 s call timeout did). The bench has the figure.
    assert.ok((report.latency.trade.max_ms ?? Infinity) < HANG_COST_MS_MAX, `the worst trade took ${report.latency.trade.max_ms} ms\n${client.formatReport(report)}`);
    assert.equal(report.mismatches, 0, client.formatReport(report));
    // This run's orders, the earlier test's, and the one retried by hand.
    placed += report.orders_placed + 1;
    await assertEndState(cluster, config, placed);
    const keys = (await readOrderLog(cluster.orderLogPath(1))).filter((entry) => entry.key === 'from-the-stale-leader');
    assert.equal(keys.length, 1, 'the stale leader\'s order is logged once');
  });
  test('a hung follower (SIGSTOP) holds no trade past a few hundred ms, and catches up when it wakes', async (t) => {
    const stop = new AbortController();
    const running = startClient(cluster, config, SEED + 2, stop.signal);
    let stopped: number | undefined;
    try {
      await sleep(300);
      const leader = await leaderId(cluster);
      const follower = config.orders.map((replica) => replica.id).find((id) => id !== leader)!;
      const pid = Number((await controlHealth(cluster)).children[`order-${follower}`]?.pid);
      assert.ok(pid > 0);
      process.kill(pid, 'SIGSTOP');
      stopped = pid;
      await sleep(1_500);
      process.kill(pid, 'SIGCONT');
      stopped = undefined;
      await sleep(500);
      assert.equal(await leaderId(cluster), leader, 'a hung follower costs no election');
    } finally {
      if (stopped !== undefined) process.kill(stopped, 'SIGCONT');
      stop.abort();
    }
    const report = await running;
    t.diagnostic(`${report.orders_placed} orders; trade p50 ${report.latency.trade.p50_ms} ms, max ${report.latency.trade.max_ms} ms`);
    assert.equal(report.errors, 0, client.formatReport(report));
    assert.equal(report.mismatches, 0, client.formatReport(report));
    assert.ok((report.latency.trade.max_ms ?? Infinity) < HANG_COST_MS_MAX, `the worst trade took ${report.latency.trade.max_ms} ms\n${client.formatReport(report)}`);
    placed += report.orders_placed;
    await assertEndState(cluster, config, placed);
  });
});

async function controlHealth(cluster: TestCluster): Promise<{ children: Record<string, { pid: number; running: boolean }> }> {
  const { Client } = await import('undici');
  const control = new Client('http://up', { socketPath: `${cluster.dataDir}/up.sock` });
  try {
    const reply = await control.request({ method: 'GET', path: '/health' });
    return ((await reply.body.json()) as { data: { children: Record<string, { pid: number; running: boolean }> } }).data;
  } finally {
    await control.close();
  }
}
