// Durability with real processes and kill -9: what was acknowledged is on disk, a retry with the same
// key after a crash neither loses nor doubles a trade, a torn tail is cut, and one log has one owner.
import assert from 'node:assert/strict';
import { appendFile, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import * as client from '../../src/client/index.ts';
import { seededRandom } from '../../src/client/random.ts';
import { loadConfig } from '../../src/core/config.ts';
import { jsonlLine } from '../../src/storage/jsonl.ts';
import { assertConserved, catalogStocks, readOrderLog } from '../../harness/checks.ts';
import { http, postOrder, TestCluster } from '../../harness/cluster.ts';
import { eventually } from '../../harness/wait.ts';

const STOCKS = ['GameStart', 'FishCo', 'BoarCo', 'MenhirCo'];
const TRADES = 300;
const WORKERS = 8;
/** A retry loop after the restart is bounded in attempts and time. */
const RETRY_ATTEMPTS_MAX = 50;

interface Sent {
  readonly key: string;
  readonly body: { name: string; type: 'buy' | 'sell'; quantity: number };
  number?: number;
  settled: boolean;
}

describe('crashes of the catalog and the order replica (seed 20261121)', () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await TestCluster.create({ replicas: 1 });
  });
  after(() => cluster.destroy());

  test('kill -9 of catalog and replica mid-load: every acknowledged order survives, and retries with the same keys trade exactly once (G1, G2, G4)', async () => {
    const { catalog, orders } = await cluster.startAll();
    const api = cluster.url('frontend');
    const random = seededRandom(20261121);
    const sent: Sent[] = Array.from({ length: TRADES }, (_, index) => ({
      key: `crash-${index}`,
      body: { name: random.pick(STOCKS), type: random.next() < 0.5 ? 'buy' : 'sell', quantity: random.int(1, 3) },
      settled: false,
    }));

    const attempt = async (item: Sent): Promise<void> => {
      try {
        const reply = await postOrder(api, item.body, { 'idempotency-key': item.key });
        if (reply.status === 200) {
          const number = (reply.body as { data: { transaction_number: number } }).data.transaction_number;
          assert.ok(item.number === undefined || item.number === number, `key ${item.key} got two numbers`);
          item.number = number;
          item.settled = true;
        } else if (reply.status === 409) {
          item.settled = true;
        } else {
          assert.ok(reply.status >= 500, `only unavailability may fail a valid trade: ${reply.status} ${reply.text}`);
        }
      } catch {
        // The connection died with the process: not settled; retried below.
      }
    };

    let next = 0;
    let acknowledged = 0;
    const killed = (async () => {
      while (acknowledged < TRADES / 3) await sleep(2);
      await Promise.all([catalog.crash(), orders.get(1)!.crash()]);
    })();
    await Promise.all(
      Array.from({ length: WORKERS }, async () => {
        while (next < sent.length) {
          const item = sent[next]!;
          next += 1;
          await attempt(item);
          if (item.number !== undefined) acknowledged += 1;
        }
      }),
    );
    await killed;
    const acknowledgedBeforeRestart = sent.filter((item) => item.number !== undefined).map((item) => ({ ...item }));
    assert.ok(acknowledgedBeforeRestart.length >= TRADES / 3, 'the crash fell mid-load');
    assert.ok(sent.some((item) => !item.settled), 'some trades were cut off by the crash');

    // G1: every acknowledged order is on disk, as acknowledged, with nothing running.
    const logAfterCrash = await readOrderLog(cluster.orderLogPath(1));
    for (const item of acknowledgedBeforeRestart) {
      const entry = logAfterCrash[item.number!];
      assert.deepEqual(entry && { key: entry.key, name: entry.name, type: entry.type, quantity: entry.quantity }, { key: item.key, ...item.body });
    }

    // Restart with the same disks (the locks of the killed processes are taken over), then
    // retry every trade that got no answer, with its key, until each is settled.
    await Promise.all([cluster.start('catalog'), cluster.start(1)]);
    for (let round = 0; round < RETRY_ATTEMPTS_MAX && sent.some((item) => !item.settled); round += 1) {
      await Promise.all(sent.filter((item) => !item.settled).map(attempt));
      if (sent.some((item) => !item.settled)) await sleep(100);
    }
    assert.ok(sent.every((item) => item.settled), 'every trade settles once the service is back');

    const log = await readOrderLog(cluster.orderLogPath(1));
    const numbers = sent.filter((item) => item.number !== undefined).map((item) => item.number!);
    assert.equal(new Set(numbers).size, numbers.length, 'no two trades share a number');
    assert.equal(log.length, numbers.length, 'the log holds exactly the acknowledged orders: none lost, none doubled');
    assertConserved(log, await catalogStocks(cluster.url('catalog')));
  });
});

describe('the order log on disk', () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await TestCluster.create({ replicas: 1 });
  });
  after(() => cluster.destroy());

  test('a torn last line left by a crash is cut on start and numbering goes on from the last whole entry', async () => {
    const { orders } = await cluster.startAll();
    const api = cluster.url('frontend');
    for (let index = 0; index < 3; index += 1) assert.equal((await postOrder(api, { name: 'FishCo', quantity: 1, type: 'buy' })).status, 200);
    await orders.get(1)!.crash();
    await appendFile(cluster.orderLogPath(1), '{"number":3,"epoch":0,"key":"torn","na');

    const restarted = await cluster.start(1);
    assert.match(restarted.output, /cut a torn last line \(\d+ bytes\)/);
    const reply = await postOrder(api, { name: 'FishCo', quantity: 1, type: 'buy' });
    assert.deepEqual(reply.body, { data: { transaction_number: 3 } });
    const text = await readFile(cluster.orderLogPath(1), 'utf8');
    assert.ok(text.endsWith('\n') && !text.includes('"torn"'), 'the torn line is gone and the file ends in a whole line');
    assert.equal((await readOrderLog(cluster.orderLogPath(1))).length, 4);
  });

  test('a line damaged in the middle of the log (checksum mismatch): the file is kept aside, the log cut there, and the replica recovers; alone, it says the lost orders cannot come back and never serves', async () => {
    const lines = [0, 1, 2, 3].map((number) => jsonlLine({ number, epoch: 1, key: `k${number}`, name: 'FishCo', type: 'buy', quantity: 1 }));
    lines[1] = lines[1]!.replace('"quantity":1', '"quantity":9');
    const other = await TestCluster.create({ replicas: 1 });
    try {
      await writeFile(other.orderLogPath(1), lines.join(''));
      const replica = await other.start(1);
      await replica.waitFor(/line 2 of its order log is damaged \(checksum mismatch\); it keeps the 1 lines before it/);
      await replica.waitFor(/a majority of replicas lost their disks \(this one\)/);
      const health = (await http(`${other.url(1)}/health`)).body as { data: { state: string; lastNumber: number } };
      assert.deepEqual({ state: health.data.state, lastNumber: health.data.lastNumber }, { state: 'recovering', lastNumber: 0 });
      const kept = (await readdir(path.dirname(other.orderLogPath(1)))).filter((name) => name.startsWith('orders.jsonl.damaged-'));
      assert.equal(kept.length, 1, 'the damaged file is kept for the operator');
      assert.equal(await readFile(path.join(path.dirname(other.orderLogPath(1)), kept[0]!), 'utf8'), lines.join(''));
    } finally {
      await other.destroy();
    }
  });

  test('a second process for the same replica id is refused while the first holds the log', async () => {
    const second = cluster.spawn(['order', '--id', '1']);
    const { code } = await second.exited;
    assert.equal(code, 1);
    assert.match(second.output, /orders\.jsonl is locked by process \d+ on .+; stop it first/);
    assert.equal((await postOrder(cluster.url('frontend'), { name: 'FishCo', quantity: 1, type: 'buy' })).status, 200, 'the first keeps serving');
  });
});

describe('the catalog down while replicas are fine', () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await TestCluster.create({ replicas: 3 });
  });
  after(() => cluster.destroy());

  test('trades answer 503 with Retry-After, the leader is kept (no needless election), and trading resumes when the catalog is back', async () => {
    const { catalog } = await cluster.startAll();
    const api = cluster.url('frontend');
    assert.equal((await postOrder(api, { name: 'FishCo', quantity: 1, type: 'buy' })).status, 200);
    const leaderAndEpoch = async () => {
      const { leader, epoch } = ((await http(`${api}/health`)).body as { data: { leader: number; epoch: number } }).data;
      return { leader, epoch };
    };
    const before = await leaderAndEpoch();
    await catalog.crash();

    const refused = await postOrder(api, { name: 'FishCo', quantity: 1, type: 'buy' }, { 'idempotency-key': 'while-catalog-down' });
    assert.equal(refused.status, 503, refused.text);
    assert.match(refused.text, /catalog is unavailable/);
    assert.ok(refused.headers.get('retry-after') !== null);
    assert.deepEqual(await leaderAndEpoch(), before, 'same leader, same epoch');

    await cluster.start('catalog');
    const retried = await postOrder(api, { name: 'FishCo', quantity: 1, type: 'buy' }, { 'idempotency-key': 'while-catalog-down' });
    assert.deepEqual(retried.body, { data: { transaction_number: 1 } });
    assertConserved(await readOrderLog(cluster.orderLogPath(before.leader)), await catalogStocks(cluster.url('catalog')));
  });
});

describe('every process killed at once (seed 61)', () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await TestCluster.create({ replicas: 3 });
  });
  after(() => cluster.destroy());

  test('kill -9 of all five processes mid-load, restart, no retries: acknowledged orders keep their numbers, logs converge, and the catalog equals the log (G1, G3, G4)', async () => {
    const first = await cluster.startAll();
    const api = cluster.url('frontend');
    const random = seededRandom(61);
    const acknowledged: Array<{ number: number; key: string; body: { name: string; type: 'buy' | 'sell'; quantity: number } }> = [];
    let sent = 0;
    let stop = false;
    const killed = (async () => {
      while (acknowledged.length < 150) await sleep(2);
      stop = true;
      await Promise.all([first.catalog, first.frontend, ...first.orders.values()].map((proc) => proc.crash()));
    })();
    await Promise.all(
      Array.from({ length: WORKERS }, async () => {
        while (!stop && sent < 2_000) {
          const key = `all-${sent}`;
          sent += 1;
          const body = { name: random.pick(STOCKS), type: random.next() < 0.5 ? ('buy' as const) : ('sell' as const), quantity: random.int(1, 3) };
          try {
            const reply = await postOrder(api, body, { 'idempotency-key': key });
            if (reply.status === 200) acknowledged.push({ number: (reply.body as { data: { transaction_number: number } }).data.transaction_number, key, body });
          } catch {
            // Cut off by the kill; never retried.
          }
        }
      }),
    );
    await killed;

    await cluster.startAll();
    assert.equal((await http(`${api}/orders/${acknowledged[0]!.number}`)).status, 200, 'a new leader serves');
    // The new leader reconciles the catalog's trades that no replica logged (within a few seconds).
    await eventually(async () => {
      assertConserved(await readOrderLog(cluster.orderLogPath(3)), await catalogStocks(cluster.url('catalog')));
      const lengths = await Promise.all([1, 2, 3].map(async (id) => (await readFile(cluster.orderLogPath(id))).length));
      if (new Set(lengths).size !== 1) throw new Error(`log sizes differ: ${lengths.join(', ')}`);
    }, 15_000);
    const logs = await Promise.all([1, 2, 3].map(async (id) => readFile(cluster.orderLogPath(id), 'utf8')));
    assert.ok(logs[0] === logs[1] && logs[1] === logs[2], 'the three logs are byte-identical');
    const log = await readOrderLog(cluster.orderLogPath(3));
    for (const order of acknowledged) {
      const entry = log[order.number];
      assert.deepEqual(entry && { key: entry.key, name: entry.name, type: entry.type, quantity: entry.quantity }, { key: order.key, ...order.body }, `acknowledged order ${order.number} kept its number`);
    }
  });
});

describe('the frontend crashes under load (seed 88)', () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await TestCluster.create({ replicas: 3 });
  });
  after(() => cluster.destroy());

  test('kill -9 of the frontend while five clients trade: they retry (trades with their keys), see no error, and every order is placed once', async () => {
    const { frontend } = await cluster.startAll();
    const stop = new AbortController();
    const config = loadConfig(cluster.configPath);
    const running = client.run({
      frontend: cluster.url('frontend'),
      p: 0.6,
      iterations: 1_000_000,
      clients: 5,
      seed: 88,
      stocks: config.catalog.stocks.map((stock) => stock.name),
      signal: stop.signal,
    });
    try {
      await sleep(400);
      await frontend.crash();
      await sleep(200);
      await cluster.start('frontend');
      await sleep(400);
    } finally {
      stop.abort();
    }
    const report = await running;
    assert.equal(report.errors, 0, client.formatReport(report));
    assert.equal(report.mismatches, 0, client.formatReport(report));
    assert.ok(report.retries > 0, 'the clients did have to retry');
    await eventually(async () => {
      const log = await readOrderLog(cluster.orderLogPath(3));
      assert.equal(log.length, report.orders_placed, 'each order placed exactly once');
      assertConserved(log, await catalogStocks(cluster.url('catalog')));
    });
  });
});
