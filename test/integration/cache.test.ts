// The frontend cache with real processes: it saves catalog requests, a trade invalidates it, it is
// bounded and least-recently-used, it can be off, no lookup after a trade's reply shows the state
// from before the trade (G5), and a frontend that hung neither blocks trades nor serves stale data.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { seededRandom } from '../../src/client/random.ts';
import { http, postOrder, type Proc, TestCluster, waitHealthy } from '../../harness/cluster.ts';

interface StockReply {
  data: { name: string; quantity: number; volume: number };
}

/** Lookups the catalog has answered, from its /metrics. */
async function catalogLookups(cluster: TestCluster): Promise<number> {
  const metrics = (await http(`${cluster.url('catalog')}/metrics`)).text;
  return Number(/bazaar_catalog_requests_total\{route="GET \/stocks\/:name",status="200"\} (\d+)/.exec(metrics)?.[1] ?? 0);
}

async function lookup(cluster: TestCluster, name: string): Promise<StockReply['data']> {
  const reply = await http(`${cluster.url('frontend')}/stocks/${name}`);
  assert.equal(reply.status, 200, reply.text);
  return (reply.body as StockReply).data;
}

describe('frontend cache (real processes)', () => {
  let cluster: TestCluster;
  let frontend: Proc;

  /** Restarts the frontend with these flags. */
  async function frontendWith(...flags: string[]): Promise<void> {
    await frontend?.stop();
    frontend = cluster.spawn(['frontend', ...flags]);
    await waitHealthy(cluster.url('frontend'), frontend);
    // The catalog's first push after the restart grants the lease; until then nothing is cached.
    const deadline = Date.now() + 5_000;
    while (!((await http(`${cluster.url('frontend')}/health`)).body as { data: { cache: { leaseValid: boolean; enabled: boolean } } }).data.cache.leaseValid) {
      if (Date.now() > deadline) throw new Error('the frontend never got a cache lease');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  before(async () => {
    cluster = await TestCluster.create({ replicas: 1 });
    await Promise.all([cluster.start('catalog'), cluster.start(1)]);
    await frontendWith();
  });
  after(() => cluster.destroy());

  test('a repeated lookup is served from the cache and does not reach the catalog', async () => {
    const before = await catalogLookups(cluster);
    const first = await lookup(cluster, 'GameStart');
    for (let index = 0; index < 5; index += 1) assert.deepEqual(await lookup(cluster, 'GameStart'), first);
    assert.equal(await catalogLookups(cluster), before + 1);
  });

  test('a trade invalidates: the next lookup shows the trade, read once from the catalog', async () => {
    await lookup(cluster, 'FishCo');
    const before = await catalogLookups(cluster);
    assert.equal((await postOrder(cluster.url('frontend'), { name: 'FishCo', quantity: 4, type: 'buy' })).status, 200);
    assert.deepEqual(await lookup(cluster, 'FishCo'), { name: 'FishCo', price: 12.5, quantity: 96, volume: 4 });
    await lookup(cluster, 'FishCo');
    assert.equal(await catalogLookups(cluster), before + 1);
  });

  test('at its size bound the cache evicts the least recently used stock (--cache-size)', async () => {
    await frontendWith('--cache-size', '2');
    for (const name of ['BoarCo', 'MenhirCo', 'BoarCo', 'PiloteCo']) await lookup(cluster, name); // MenhirCo is least recent when PiloteCo comes.
    const before = await catalogLookups(cluster);
    await lookup(cluster, 'BoarCo');
    await lookup(cluster, 'PiloteCo');
    assert.equal(await catalogLookups(cluster), before, 'BoarCo and PiloteCo were cached');
    await lookup(cluster, 'MenhirCo');
    assert.equal(await catalogLookups(cluster), before + 1, 'MenhirCo had been evicted');
    const health = (await http(`${cluster.url('frontend')}/health`)).body as { data: { cache: { evictions: number; size: number; max: number } } };
    assert.deepEqual({ size: health.data.cache.size, max: health.data.cache.max }, { size: 2, max: 2 });
    assert.ok(health.data.cache.evictions >= 2);
  });

  test('a stock the cache evicted is fetched again from the catalog and shows every trade acknowledged before', async () => {
    await frontendWith('--cache-size', '2');
    const names = ['GameStart', 'FishCo', 'BoarCo', 'MenhirCo', 'RottenFishCo', 'CaesarTech'];
    const expected = new Map<string, number>();
    for (const name of names) expected.set(name, (await lookup(cluster, name)).quantity);
    const random = seededRandom(16);
    const catalogBefore = await catalogLookups(cluster);
    const evictionsBefore = ((await http(`${cluster.url('frontend')}/health`)).body as { data: { cache: { evictions: number } } }).data.cache.evictions;
    for (let step = 0; step < 120; step += 1) {
      const name = random.pick(names);
      if (random.next() < 0.4) {
        // Sells and buys of one unit alternate by step, so no stock runs out.
        const type = step % 2 === 0 ? 'sell' : 'buy';
        const reply = await postOrder(cluster.url('frontend'), { name, quantity: 1, type });
        assert.equal(reply.status, 200, reply.text);
        expected.set(name, expected.get(name)! + (type === 'sell' ? 1 : -1));
      }
      // Every lookup, hit or refetch after an eviction, shows every trade acknowledged so far (G5).
      assert.equal((await lookup(cluster, name)).quantity, expected.get(name), `step ${step}: ${name}`);
    }
    const evictions = ((await http(`${cluster.url('frontend')}/health`)).body as { data: { cache: { evictions: number } } }).data.cache.evictions - evictionsBefore;
    assert.ok(evictions >= 30, `only ${evictions} evictions: the test did not exercise replacement`);
    assert.ok((await catalogLookups(cluster)) - catalogBefore >= 30, 'evicted stocks were fetched again from the catalog');
  });

  test('with caching off (--no-cache) every lookup reaches the catalog', async () => {
    await frontend.stop();
    frontend = cluster.spawn(['frontend', '--no-cache']);
    await waitHealthy(cluster.url('frontend'), frontend);
    const before = await catalogLookups(cluster);
    for (let index = 0; index < 5; index += 1) await lookup(cluster, 'GameStart');
    assert.equal(await catalogLookups(cluster), before + 5);
    await frontendWith();
  });

  test('under concurrent trades and lookups, no lookup after a trade\'s reply shows the stock from before the trade (G5, seed 5)', async () => {
    const random = seededRandom(5);
    const names = ['Reneium', 'Goscinnyium'];
    /** Highest volume any completed lookup has shown, per stock. */
    const seen = new Map(names.map((name) => [name, 0]));
    /** Lowest volume a lookup that starts now may show: after a trade's reply, what it saw before plus the trade. */
    const floor = new Map(names.map((name) => [name, 0]));
    const violations: string[] = [];
    let trades = 0;
    let lookups = 0;
    let trading = true;

    const trader = async (session: number): Promise<void> => {
      for (let index = 0; index < 40; index += 1) {
        const name = random.pick(names);
        const before = seen.get(name)!;
        const reply = await postOrder(cluster.url('frontend'), { name, quantity: 1, type: index % 2 === 0 ? 'sell' : 'buy' }, { 'idempotency-key': `g5-${session}-${index}` });
        assert.equal(reply.status, 200, reply.text);
        floor.set(name, Math.max(floor.get(name)!, before + 1));
        trades += 1;
      }
    };
    const looker = async (): Promise<void> => {
      for (let index = 0; index < 3_000 && trading; index += 1) {
        const name = random.pick(names);
        const atLeast = floor.get(name)!;
        const { volume } = await lookup(cluster, name);
        lookups += 1;
        if (volume < atLeast) violations.push(`${name}: volume ${volume} after a trade's reply had made it at least ${atLeast}`);
        seen.set(name, Math.max(seen.get(name)!, volume));
      }
    };
    const lookers = Array.from({ length: 6 }, () => looker());
    await Promise.all(Array.from({ length: 4 }, (_, session) => trader(session)));
    trading = false;
    await Promise.all(lookers);
    assert.deepEqual(violations, [], `${violations.length} stale reads in ${lookups} lookups and ${trades} trades`);
    assert.ok(lookups > trades, `lookups ran alongside the trades (${lookups} lookups, ${trades} trades)`);
    const cache = ((await http(`${cluster.url('frontend')}/health`)).body as { data: { cache: { hits: number; invalidations: number } } }).data.cache;
    assert.ok(cache.hits > 0 && cache.invalidations > 0, `the cache was used and invalidated (${JSON.stringify(cache)})`);
  });

  test('a hung frontend (SIGSTOP) does not block trades, and serves no stale entry when it wakes', async () => {
    await lookup(cluster, 'LutetiaTech');
    const cached = await lookup(cluster, 'LutetiaTech');
    process.kill(frontend.pid, 'SIGSTOP');
    let resumed = false;
    try {
      // Trades straight to the order replica (the frontend is hung); the catalog may wait for the
      // hung frontend's cache lease to run out, once, and no longer.
      for (let index = 0; index < 3; index += 1) {
        const reply = await http(`${cluster.url(1)}/orders`, {
          method: 'POST',
          body: JSON.stringify({ key: `while-hung-${index}`, name: 'LutetiaTech', quantity: 1, type: 'buy' }),
          headers: { 'content-type': 'application/json' },
          timeoutMs: 5_000,
        });
        assert.equal(reply.status, 200, reply.text);
      }
      process.kill(frontend.pid, 'SIGCONT');
      resumed = true;
      assert.deepEqual(await lookup(cluster, 'LutetiaTech'), { ...cached, quantity: cached.quantity - 3, volume: cached.volume + 3 });
    } finally {
      if (!resumed) process.kill(frontend.pid, 'SIGCONT');
    }
  });
});
