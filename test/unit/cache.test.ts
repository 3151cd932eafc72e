// The frontend cache and the catalog's push, driven by a fake clock: leases, missed pushes, the
// fill/invalidate race, LRU eviction.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Invalidator } from '../../src/catalog/invalidator.ts';
import type { InvalidationMessage } from '../../src/protocol/push.ts';
import { CACHE_CLOCK_SKEW_MS_MAX, CACHE_LEASE_MS } from '../../src/core/limits.ts';
import type { Stock } from '../../src/core/trade.ts';
import { StockCache } from '../../src/frontend/cache.ts';

const fish = (quantity: number): Stock => ({ name: 'FishCo', price: 12.5, quantity, volume: 100 - quantity });
const clock = { now: 1_000_000 };
const now = () => clock.now;
const push = (from: number, to: number, invalidations: Array<{ name: string; version: number }> = []): InvalidationMessage => ({
  from,
  to,
  invalidations,
  leaseUntil: clock.now + CACHE_LEASE_MS,
});

function leasedCache(max = 10): StockCache {
  const cache = new StockCache({ enabled: true, max, now });
  cache.apply(push(-1, 0));
  return cache;
}

describe('StockCache', () => {
  test('a filled stock is served from the cache until the catalog invalidates it', () => {
    const cache = leasedCache();
    assert.equal(cache.get('FishCo'), undefined);
    cache.fill(fish(100), 0);
    assert.deepEqual(cache.get('FishCo')?.stock, fish(100));
    cache.apply(push(0, 1, [{ name: 'FishCo', version: 1 }]));
    assert.equal(cache.get('FishCo'), undefined);
    assert.deepEqual({ hits: cache.stats().hits, misses: cache.stats().misses, invalidations: cache.stats().invalidations }, { hits: 1, misses: 2, invalidations: 1 });
  });

  test('a value read before an invalidation and offered after it is refused (the fill/invalidate race)', () => {
    const cache = leasedCache();
    // A lookup reads version 0 from the catalog; meanwhile a trade makes version 1 and its push arrives.
    cache.apply(push(0, 1, [{ name: 'FishCo', version: 1 }]));
    cache.fill(fish(100), 0);
    assert.equal(cache.get('FishCo'), undefined, 'the old value was not cached');
    cache.fill(fish(97), 1);
    assert.deepEqual(cache.get('FishCo')?.stock, fish(97));
  });

  test('without a valid lease nothing is served or stored', () => {
    const cache = leasedCache();
    cache.fill(fish(100), 0);
    clock.now += CACHE_LEASE_MS - CACHE_CLOCK_SKEW_MS_MAX; // The lease, less the allowance for clock skew.
    assert.equal(cache.get('FishCo'), undefined);
    cache.fill(fish(100), 0);
    cache.apply(push(0, 0));
    assert.deepEqual(cache.get('FishCo')?.stock, fish(100), 'a push renews the lease; the entry was kept, nothing changed meanwhile');
  });

  test('a missed push (a gap in the sequence) drops the whole cache', () => {
    const cache = leasedCache();
    cache.fill(fish(100), 0);
    cache.fill({ name: 'BoarCo', price: 1, quantity: 5, volume: 0 }, 0);
    cache.apply(push(3, 4));
    assert.equal(cache.get('FishCo'), undefined);
    assert.equal(cache.get('BoarCo'), undefined);
    assert.equal(cache.stats().resets, 2, 'the first push and the gap');
  });

  test('past its bound the least recently used entry is evicted', () => {
    const cache = leasedCache(2);
    for (const name of ['A', 'B']) cache.fill({ name, price: 1, quantity: 1, volume: 0 }, 0);
    assert.ok(cache.get('A') !== undefined);
    cache.fill({ name: 'C', price: 1, quantity: 1, volume: 0 }, 0);
    assert.equal(cache.get('B'), undefined, 'B was least recently used');
    assert.ok(cache.get('A') !== undefined && cache.get('C') !== undefined);
    assert.equal(cache.stats().evictions, 1);
  });

  test('with caching off nothing is ever served from memory', () => {
    const cache = new StockCache({ enabled: false, max: 10, now });
    cache.apply(push(-1, 0));
    cache.fill(fish(100), 0);
    assert.equal(cache.get('FishCo'), undefined);
    assert.equal(cache.stats().size, 0);
  });
});

/** A frontend whose acknowledgements the test gives by hand. */
function manualFrontend() {
  const messages: InvalidationMessage[] = [];
  const acks: Array<() => void> = [];
  return {
    messages,
    deliver: (message: InvalidationMessage) =>
      new Promise<void>((resolve) => {
        messages.push(message);
        acks.push(resolve);
      }),
    ack: () => acks.shift()!(),
  };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

describe('Invalidator', () => {
  test('pushes go one at a time, numbered in sequence, the first with every stock; a trade waits for its acknowledgement', async () => {
    const frontend = manualFrontend();
    const invalidator = new Invalidator([{ name: 'f', deliver: frontend.deliver }], { versions: () => [{ name: 'FishCo', version: 0 }] });
    await tick();
    assert.deepEqual(frontend.messages.map((message) => [message.from, message.to, message.invalidations]), [[-1, 0, [{ name: 'FishCo', version: 0 }]]]);
    frontend.ack();

    let published = false;
    const waiting = invalidator.published({ name: 'FishCo', version: 1 }).then(() => {
      published = true;
    });
    await tick();
    assert.equal(published, false, 'not before the frontend acknowledged');
    assert.deepEqual(frontend.messages.at(-1), { from: 0, to: 1, invalidations: [{ name: 'FishCo', version: 1 }], leaseUntil: frontend.messages.at(-1)!.leaseUntil });
    frontend.ack();
    await waiting;
    assert.equal(published, true);
    invalidator.close();
  });

  test('a trade does not wait for its own frontend (the version rides on its reply) but still pushes to it, and waits for every other', async () => {
    const own = manualFrontend();
    const other = manualFrontend();
    const invalidator = new Invalidator(
      [
        { name: 'own', deliver: own.deliver },
        { name: 'other', deliver: other.deliver },
      ],
      { versions: () => [{ name: 'FishCo', version: 0 }] },
    );
    await tick();
    own.ack();
    other.ack();
    let published = false;
    const waiting = invalidator.published({ name: 'FishCo', version: 1 }, 'own').then(() => (published = true));
    await tick();
    assert.deepEqual(own.messages.at(-1)!.invalidations, [{ name: 'FishCo', version: 1 }], 'its own frontend is pushed the change too');
    assert.equal(published, false, 'not before the other frontend acknowledged');
    other.ack();
    await waiting;
    own.ack();
    invalidator.close();
  });

  test('a change queued while a push is in flight is not taken as acknowledged with it', async () => {
    const frontend = manualFrontend();
    const invalidator = new Invalidator([{ name: 'f', deliver: frontend.deliver }], { versions: () => [{ name: 'FishCo', version: 0 }, { name: 'BoarCo', version: 0 }] });
    await tick();
    // A trade on FishCo commits while the first push (every version) is still unacknowledged.
    let fishDone = false;
    const fish = invalidator.published({ name: 'FishCo', version: 1 }).then(() => (fishDone = true));
    frontend.ack();
    await tick();
    assert.equal(fishDone, false, 'FishCo v1 was not in the first push');
    assert.deepEqual(frontend.messages.at(-1)!.invalidations, [{ name: 'FishCo', version: 1 }]);
    // While that push is in flight, a trade on BoarCo commits.
    let boarDone = false;
    const boar = invalidator.published({ name: 'BoarCo', version: 1 }).then(() => (boarDone = true));
    frontend.ack();
    await fish;
    await tick();
    assert.equal(boarDone, false, 'BoarCo v1 waits for a push that carries it');
    assert.deepEqual(frontend.messages.at(-1)!.invalidations, [{ name: 'BoarCo', version: 1 }]);
    frontend.ack();
    await boar;
    invalidator.close();
  });

  test('a frontend that never answers holds a trade only until the lease it was granted has run out', async () => {
    const invalidator = new Invalidator([{ name: 'dead', deliver: () => new Promise<void>(() => {}) }], { versions: () => [] });
    await tick();
    const startedAt = Date.now();
    await invalidator.published({ name: 'FishCo', version: 1 });
    const waited = Date.now() - startedAt;
    assert.ok(waited >= CACHE_LEASE_MS - 50 && waited < CACHE_LEASE_MS * 3, `waited ${waited} ms for a ${CACHE_LEASE_MS} ms lease`);
    const again = Date.now();
    await invalidator.published({ name: 'FishCo', version: 2 });
    assert.ok(Date.now() - again < 50, 'once its lease has run out, a dead frontend holds nothing up');
    invalidator.close();
  });

  test('retries to a frontend that has stopped answering grant it no new lease', async () => {
    const messages: InvalidationMessage[] = [];
    let answering = true;
    const invalidator = new Invalidator(
      [{ name: 'flaky', deliver: async (message) => { messages.push(message); if (!answering) throw new Error('timed out'); } }],
      { versions: () => [] },
    );
    await tick();
    answering = false;
    await invalidator.published({ name: 'FishCo', version: 1 });
    await new Promise((resolve) => setTimeout(resolve, 250));
    const afterFailure = messages.slice(messages.findIndex((message) => message.invalidations.length > 0) + 1);
    assert.ok(afterFailure.length >= 1, 'it kept retrying');
    assert.ok(afterFailure.every((message) => message.leaseUntil === 0), 'no retry extended the lease');
    invalidator.close();
  });
});
