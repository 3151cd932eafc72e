// The dashboard's pure parts: bounded history, reading Prometheus text, quantiles from buckets, the
// G4 tally, and the timeline's rules, each on made-up readings.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseConfig } from '../../src/core/config.ts';
import { DASHBOARD_IN_SYNC_LAG_MAX } from '../../src/core/limits.ts';
import { Metrics } from '../../src/http/metrics.ts';
import { type CatchUp, changes, point, snapshot } from '../../src/dashboard/model.ts';
import { bucketIncrease, buckets, parseMetrics, quantile, total } from '../../src/dashboard/prometheus.ts';
import type { Reading } from '../../src/dashboard/reader.ts';
import { Ring } from '../../src/dashboard/ring.ts';
import { LogTally } from '../../src/dashboard/tally.ts';
import type { FrontendHealth, OrderHealth } from '../../src/protocol/health.ts';

const config = parseConfig(
  {
    frontend: { host: '127.0.0.1', port: 1 },
    catalog: { host: '127.0.0.1', port: 2 },
    orders: [1, 2, 3].map((id) => ({ id, host: '127.0.0.1', port: 10 + id })),
  },
  { configPath: '/tmp/bazaar.json', env: {} },
);

function replica(id: number, lastNumber: number, state: OrderHealth['state'] = 'follower', epoch = 1): OrderHealth {
  return { id, role: 'order', state, status: 'up', serving: state === 'leader', epoch, leaderId: 3, logEpoch: epoch, lastNumber, commitLength: state === 'leader' ? lastNumber + 1 : null, logBytes: 0, recovery: null, pid: 1000 + id };
}

function frontend(epoch: number, leader: number, resets = 1): FrontendHealth {
  return { role: 'frontend', status: 'up', leader, epoch, pid: 999, cache: { enabled: true, max: 100, size: 0, hits: 0, misses: 0, evictions: 0, invalidations: 0, resets, leaseValid: true } };
}

function reading(at: number, parts: Partial<Reading>): Reading {
  return { at, catalog: { role: 'catalog', status: 'up', trades: 0, ready: true, pid: 998 }, stocks: [], frontends: [{ health: frontend(1, 3), metrics: null }], replicas: [1, 2, 3].map((id) => ({ id, health: replica(id, 10, id === 3 ? 'leader' : 'follower') })), supervised: undefined, ...parts };
}

describe('dashboard', () => {
  test('a ring keeps the newest items, never more than its capacity', () => {
    const ring = new Ring<number>(3);
    for (let index = 0; index < 10; index += 1) ring.push(index);
    assert.equal(ring.length, 3);
    assert.deepEqual(ring.toArray(), [7, 8, 9]);
  });

  test('quantiles come from the observations between two scrapes of a histogram', () => {
    const metrics = new Metrics();
    const observe = metrics.requests('x');
    for (let index = 0; index < 100; index += 1) observe('GET /a', 200, 3); // 3 ms: in (2 ms, 4 ms]
    const before = parseMetrics(metrics.render());
    for (let index = 0; index < 98; index += 1) observe('GET /a', 200, 0.3); // in (0.25 ms, 0.5 ms]
    for (let index = 0; index < 2; index += 1) observe('GET /a', 200, 100); // in (64 ms, 128 ms]
    const after = parseMetrics(metrics.render());
    const name = 'x_request_duration_seconds';
    const p50 = quantile(bucketIncrease(buckets(before, name, { route: 'GET /a' }), buckets(after, name, { route: 'GET /a' })), 0.5)!;
    const p99 = quantile(bucketIncrease(buckets(before, name, { route: 'GET /a' }), buckets(after, name, { route: 'GET /a' })), 0.99)!;
    assert.ok(p50 > 0.00025 && p50 <= 0.0005, `p50 ${p50}`);
    assert.ok(p99 > 0.064 && p99 <= 0.128, `p99 ${p99}`);
    assert.equal(quantile(bucketIncrease(buckets(after, name, { route: 'GET /a' }), buckets(after, name, { route: 'GET /a' })), 0.5), null);
    assert.equal(total(after, 'x_requests_total', { route: 'GET /a' }), 200);
  });

  test('the G4 tally: equal, in flight, or the stocks that differ', () => {
    const tally = new LogTally([{ name: 'A', price: 1, quantity: 10 }, { name: 'B', price: 1, quantity: 10 }]);
    tally.add(0, [{ number: 0, epoch: 1, key: 'k0', name: 'A', type: 'buy', quantity: 3 }]);
    tally.add(5, [{ number: 5, epoch: 1, key: 'k5', name: 'B', type: 'buy', quantity: 1 }]); // not next: ignored
    const stocks = [{ name: 'A', price: 1, quantity: 7, volume: 3 }, { name: 'B', price: 1, quantity: 10, volume: 0 }];
    assert.equal(tally.compare(stocks, 1).state, 'equal');
    assert.equal(tally.compare([{ ...stocks[0]!, quantity: 6, volume: 4 }, stocks[1]!], 2).state, 'in flight');
    assert.deepEqual(tally.compare([stocks[0]!, { ...stocks[1]!, quantity: 9 }], 1), { state: 'differs', orders: 1, catalogTrades: 1, differing: ['B'] });
    assert.equal(tally.compare(null, null).state, 'unknown');
  });

  test('the timeline: a crash, an election, a return, and a catch-up', () => {
    const catchUps = new Map<number, CatchUp>();
    const first = reading(1_000, {});
    const crashed = reading(1_500, { frontends: [{ health: frontend(2, 2), metrics: null }], replicas: [{ id: 1, health: replica(1, 10) }, { id: 2, health: replica(2, 10, 'leader', 2) }, { id: 3, health: null }] });
    const kinds = changes(config, first, crashed, catchUps).map((event) => event.kind).sort();
    assert.deepEqual(kinds, ['crash', 'election']);
    const behind = 10 + DASHBOARD_IN_SYNC_LAG_MAX + 500;
    const back = reading(2_000, { frontends: [{ health: frontend(2, 2), metrics: null }], replicas: [{ id: 1, health: replica(1, behind) }, { id: 2, health: replica(2, behind, 'leader', 2) }, { id: 3, health: replica(3, 10) }] });
    assert.deepEqual(changes(config, crashed, back, catchUps).map((event) => event.kind), ['restart']);
    assert.equal(snapshot(config, back, { state: 'unknown', orders: 0, catalogTrades: null, differing: [] }).replicas[2]!.sync, 'catching up');
    const synced = reading(3_000, { frontends: [{ health: frontend(2, 2), metrics: null }], replicas: [{ id: 1, health: replica(1, behind) }, { id: 2, health: replica(2, behind, 'leader', 2) }, { id: 3, health: replica(3, behind - 1) }] });
    const done = changes(config, back, synced, catchUps);
    assert.equal(done.length, 1);
    assert.match(done[0]!.text, /order replica 3 caught up: 5\d\d orders behind at most, in sync after 1\.5 s/);
  });

  test('the timeline: a catalog that restarted and is rebuilt from the order log, then serves', () => {
    const first = reading(1_000, {});
    const restarted = reading(2_000, { catalog: { role: 'catalog', status: 'up', trades: 40, ready: false, pid: 1234 } });
    assert.deepEqual(changes(config, first, restarted, new Map()).map((event) => event.text), ['the catalog is being brought level with the order log (40 orders applied so far)']);
    const level = reading(3_000, { catalog: { role: 'catalog', status: 'up', trades: 90, ready: true, pid: 1234 } });
    assert.deepEqual(changes(config, restarted, level, new Map()).map((event) => event.text), ['the catalog is level with the order log at 90 orders; it serves']);
    assert.deepEqual(changes(config, level, level, new Map()), []);
  });

  test('the timeline and the boxes: a replica that lost its disk recovers from the others, then counts again; a majority lost is said', () => {
    const recovering = (id: number, lastNumber: number, target: number | null): OrderHealth => ({ ...replica(id, lastNumber), state: 'recovering', recovery: target === null ? { phase: 'asking', leaderId: null, target: null } : { phase: 'copying', leaderId: 3, target } });
    const replicas = (two: OrderHealth, one: OrderHealth = replica(1, 10)) => [{ id: 1, health: one }, { id: 2, health: two }, { id: 3, health: replica(3, 10, 'leader') }];
    const sound = reading(1000, {});
    const lost = reading(2000, { replicas: replicas(recovering(2, 3, 11)) });
    const back = reading(3000, {});
    const texts = (events: ReturnType<typeof changes>): string[] => events.filter((event) => event.kind === 'recovery').map((event) => event.text);
    assert.deepEqual(texts(changes(config, sound, lost, new Map())), ['replica 2 lost its disk; recovering from 1 and 3']);
    const box = snapshot(config, lost, { state: 'unknown', orders: 0, catalogTrades: null, differing: [] }).replicas[1]!;
    assert.deepEqual({ sync: box.sync, progress: box.progress }, { sync: 'recovering', progress: 4 / 11 });
    assert.deepEqual(texts(changes(config, lost, back, new Map())), ["replica 2 recovered: it holds the leader's 11 orders and counts again"]);
    const majority = reading(4000, { replicas: replicas(recovering(2, -1, null), recovering(1, -1, null)) });
    assert.match(texts(changes(config, sound, majority, new Map())).join('\n'), /a majority of order replicas lost their disks/);
  });

  test('refusals are counted by kind, and rates and hit ratio come from counter increases', () => {
    const metrics = new Metrics();
    const observe = metrics.requests('bazaar_frontend');
    let hits = 0;
    metrics.counterOf('bazaar_frontend_cache_hits_total', 'hits', () => hits);
    metrics.counterOf('bazaar_frontend_cache_misses_total', 'misses', () => 0);
    const before = reading(0, { frontends: [{ health: frontend(1, 3), metrics: parseMetrics(metrics.render()) }] });
    observe('POST /orders', 409, 1);
    observe('POST /orders', 200, 1);
    observe('GET /stocks/:name', 200, 1);
    hits = 1;
    const after = reading(1_000, { frontends: [{ health: frontend(1, 3), metrics: parseMetrics(metrics.render()) }] });
    assert.deepEqual(changes(config, before, after, new Map()).map((event) => event.text), ['frontend refused 1 × 409 not enough stock']);
    const next = point(before, after)!;
    assert.deepEqual(next.rps, { lookup: 1, trade: 2, order_query: 0 });
    assert.equal(next.hitRatio, 1);
    assert.equal(next.p50.order_query, null);
  });

  test('with several frontends, rates add up over those that answered both times; one going down is not a drop to zero or a spike', () => {
    const make = (lookups: number): ReturnType<typeof parseMetrics> => {
      const metrics = new Metrics();
      const observe = metrics.requests('bazaar_frontend');
      for (let index = 0; index < lookups; index += 1) observe('GET /stocks/:name', 200, 1);
      return parseMetrics(metrics.render());
    };
    const health = frontend(1, 3);
    const first = reading(0, { frontends: [{ health, metrics: make(10) }, { health, metrics: make(100) }] });
    const second = reading(1_000, { frontends: [{ health, metrics: make(20) }, { health, metrics: make(130) }] });
    assert.equal(point(first, second)!.rps.lookup, 40);
    // The second frontend down: only the first counts, and its return counts from where it restarted.
    const third = reading(2_000, { frontends: [{ health, metrics: make(25) }, { health: null, metrics: null }] });
    assert.equal(point(second, third)!.rps.lookup, 5);
    const fourth = reading(3_000, { frontends: [{ health, metrics: make(30) }, { health, metrics: make(3) }] });
    assert.equal(point(third, fourth)!.rps.lookup, 5);
    assert.equal(point(third, fourth)!.p50.lookup !== null, true);
  });
});

