// One truth, with real processes: the replicated order log is the truth and the catalog is state
// derived from it. The catalog is killed under load, loses its whole data folder, and rebuilds from
// the order log while its leader is killed; clients see no error, every order is verified, the
// catalog equals the log (G4), and no lookup polled through it all ever shows a state the committed
// log does not explain, nor goes back in time (G5, G8).
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, test } from 'node:test';
import type { OrderEntry } from '../../src/core/trade.ts';
import { jsonlLine } from '../../src/storage/jsonl.ts';
import { assertConserved, catalogStocks, readOrderLog } from '../../harness/checks.ts';
import { http, pidOf, postOrder, type Proc, TestCluster, waitCatalogReady } from '../../harness/cluster.ts';
import { eventually, until } from '../../harness/wait.ts';

const WATCHED = 'GameStart';
const INITIAL = 100;
/** Polls are bounded in number and in time. */
const POLLS_MAX = 5_000;
const POLL_INTERVAL_MS = 10;

interface Seen {
  readonly quantity: number;
  readonly volume: number;
}

/** Polls a stock through the frontend until `stop` resolves: every state it was shown. */
function pollLookups(api: string, stop: Promise<unknown>): Promise<Seen[]> {
  let stopped = false;
  void stop.then(() => (stopped = true));
  return (async () => {
    const seen: Seen[] = [];
    for (let poll = 0; poll < POLLS_MAX && !stopped; poll += 1) {
      try {
        const reply = await http(`${api}/stocks/${WATCHED}`, { timeoutMs: 2_000 });
        if (reply.status === 200) {
          const { quantity, volume } = (reply.body as { data: Seen }).data;
          seen.push({ quantity, volume });
        }
      } catch {
        // The frontend is busy or restarting: not a state shown.
      }
      await sleep(POLL_INTERVAL_MS);
    }
    return seen;
  })();
}

/** Every state shown is one the committed log passes through, in order (G8: nothing uncommitted; G5: never back in time). */
function assertExplained(seen: readonly Seen[], log: readonly OrderEntry[]): void {
  const states: Seen[] = [{ quantity: INITIAL, volume: 0 }];
  for (const entry of log.filter((item) => item.name === WATCHED)) {
    const last = states.at(-1)!;
    states.push({ quantity: last.quantity + (entry.type === 'buy' ? -entry.quantity : entry.quantity), volume: last.volume + entry.quantity });
  }
  let at = 0;
  for (const [index, state] of seen.entries()) {
    const found = states.findIndex((candidate) => candidate.quantity === state.quantity && candidate.volume === state.volume);
    assert.ok(found !== -1, `lookup ${index} showed ${WATCHED} at ${JSON.stringify(state)}, a state the committed log never passes through (G8)`);
    assert.ok(found >= at, `lookup ${index} showed an older state than lookup before it (G5)`);
    at = found;
  }
}

/** kill -9 of the catalog `up` runs; resolves once up has started another one and it is level with the log. */
async function killCatalog(cluster: TestCluster, beforeKill: () => Promise<void> = async () => {}): Promise<void> {
  const url = cluster.url('catalog');
  const pid = (await pidOf(url))!;
  await beforeKill();
  process.kill(pid, 'SIGKILL');
  await until('up restarts the catalog', async () => {
    const now = await pidOf(url);
    return now !== undefined && now !== pid ? now : undefined;
  }, 20_000);
  await waitCatalogReady(url, undefined, 20_000);
}

describe('one truth: the catalog is derived from the order log', () => {
  const clusters: TestCluster[] = [];
  after(async () => {
    for (const cluster of clusters) await cluster.destroy();
  });

  test('kill -9 of the catalog under 5 traders, then its whole data folder lost while it is down: no client error, every order verified, the catalog equals the log, and every lookup is explained by it (G4, G5, G8)', async () => {
    const cluster = await TestCluster.create({ replicas: 3 });
    clusters.push(cluster);
    const up = cluster.spawn(['up', '--no-dashboard']);
    await up.waitFor(/Stock Bazaar is up/);
    const api = cluster.url('frontend');
    const client = cluster.spawn(['client', '--clients', '5', '--p', '0.6', '--duration', '9', '--seed', '23']);
    const timer = setTimeout(() => client.running && process.kill(client.pid, 'SIGKILL'), 60_000);
    const polled = pollLookups(api, client.exited);

    await sleep(2_000);
    await killCatalog(cluster);
    await sleep(1_500);
    // The folder goes while the catalog runs; the kill makes the next start find nothing at all.
    await killCatalog(cluster, () => rm(path.join(cluster.dataDir, 'catalog'), { recursive: true, force: true }));
    assert.match(up.output, /catalog: level with the order log at \d+ committed orders/);

    const { code } = await client.exited;
    clearTimeout(timer);
    assert.equal(code, 0, client.output);
    assert.match(client.output, /verification: passed/);
    const seen = await polled;

    let log: OrderEntry[] = [];
    await eventually(async () => {
      const logs = await Promise.all([1, 2, 3].map((id) => readOrderLog(cluster.orderLogPath(id))));
      assert.ok(logs.every((other) => other.length === logs[0]!.length), 'the logs converge');
      log = logs[0]!;
      assertConserved(log, await catalogStocks(cluster.url('catalog')));
    }, 15_000);
    assert.ok(log.length > 50, `trades went on (${log.length})`);
    assert.ok(seen.length > 100, `lookups were polled through the run (${seen.length})`);
    assertExplained(seen, log);
  });

  test('the leader killed while the catalog rebuilds a long log from nothing: the next leader finishes it, and the catalog equals the log', async () => {
    const cluster = await TestCluster.create({ replicas: 3 });
    clusters.push(cluster);
    // Three replicas that agree on 60,000 committed orders, and a catalog with no disk at all.
    const lines: string[] = [];
    for (let number = 0; number < 60_000; number += 1) {
      const name = number % 3 === 0 ? WATCHED : 'FishCo';
      lines.push(jsonlLine({ number, epoch: 1, key: `old-${number}`, name, type: number % 2 === 0 ? 'sell' : 'buy', quantity: 1 }));
    }
    for (const id of [1, 2, 3]) {
      await mkdir(path.dirname(cluster.orderLogPath(id)), { recursive: true });
      await writeFile(cluster.orderLogPath(id), lines.join(""));
      await writeFile(path.join(cluster.dataDir, `order-${id}`, 'state.json'), `${JSON.stringify({ epoch: 1, leaderId: 3, logEpoch: 1 })}\n`);
    }
    const catalog = await cluster.start('catalog');
    const orders = new Map<number, Proc>();
    for (const id of [1, 2, 3]) orders.set(id, await cluster.start(id));
    await cluster.start('frontend');
    const catalogUrl = cluster.url('catalog');
    const rebuilding = await until('the catalog is part-way through its rebuild', async () => {
      const health = (await http(`${catalogUrl}/health`)).body as { data: { trades: number; ready: boolean } };
      return health.data.trades > 0 && !health.data.ready ? health.data.trades : undefined;
    }, 30_000, 5);
    assert.ok(rebuilding < 60_000);
    assert.equal((await http(`${catalogUrl}/stocks/${WATCHED}`)).status, 503, 'a rebuilding catalog answers lookups with 503');
    const leaderId = await until('a leader serves', async () => {
      for (const id of [3, 2, 1]) {
        const health = (await http(`${cluster.url(id)}/health`)).body as { data: { state: string } };
        if (health.data.state === 'leader') return id;
      }
      return undefined;
    });
    await orders.get(leaderId)!.crash();

    // Only lookups come in, and each is refused while the catalog rebuilds: the frontend looks in
    // on its leader, finds it gone and chooses another, which finishes the rebuild.
    const api = cluster.url('frontend');
    const served = await until('a lookup is served again', async () => ((await http(`${api}/stocks/${WATCHED}`)).status === 200 ? true : undefined), 60_000, 100);
    assert.ok(served);
    await waitCatalogReady(catalogUrl, catalog, 1_000);
    assert.match(catalog.output, /rebuilding from the order log: \d+ of 60000 committed orders applied/);
    const reply = await postOrder(api, { name: WATCHED, quantity: 1, type: 'buy' });
    assert.equal(reply.status, 200, reply.text);
    const live = [1, 2, 3].find((id) => id !== leaderId)!;
    await eventually(async () => {
      assertConserved(await readOrderLog(cluster.orderLogPath(live)), await catalogStocks(catalogUrl));
    }, 15_000);
  });
});
