import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BazaarError } from '../../src/core/errors.ts';
import type { KeyedTrade } from '../../src/core/trade.ts';
import { MemoryOrderLog } from '../../src/order/log.ts';
import { type CatalogPort, OrderReplica } from '../../src/order/replica.ts';

/** A catalog that applies each key once, like the real one, and records what reached it. */
class RecordingCatalog implements CatalogPort {
  readonly applied = new Map<string, KeyedTrade>();
  calls = 0;
  refuse: BazaarError | undefined;

  async trade(trade: KeyedTrade): Promise<void> {
    this.calls += 1;
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (this.refuse !== undefined) throw this.refuse;
    if (!this.applied.has(trade.key)) this.applied.set(trade.key, trade);
  }
}

const trade = (key: string, quantity = 1): KeyedTrade => ({ key, name: 'FishCo', type: 'buy', quantity });

describe('OrderReplica', () => {
  test('concurrent orders get numbers from 0 without gaps, each logged once', async () => {
    const log = new MemoryOrderLog();
    const replica = new OrderReplica(1, log, new RecordingCatalog());
    const numbers = await Promise.all(Array.from({ length: 100 }, (_, index) => replica.placeOrder(trade(`k${index}`))));
    assert.deepEqual([...numbers].sort((a, b) => a - b), Array.from({ length: 100 }, (_, index) => index));
    assert.equal(log.length, 100);
    for (const number of numbers) assert.equal(replica.order(number)?.number, number);
  });

  test('the same key, even concurrently, yields the same number and one catalog trade', async () => {
    const catalog = new RecordingCatalog();
    const replica = new OrderReplica(1, new MemoryOrderLog(), catalog);
    const numbers = await Promise.all([replica.placeOrder(trade('k')), replica.placeOrder(trade('k')), replica.placeOrder(trade('k'))]);
    assert.deepEqual(numbers, [0, 0, 0]);
    assert.equal(await replica.placeOrder(trade('k')), 0, 'a repeat after the order is logged');
    assert.equal(catalog.calls, 1);
  });

  test('a key reused for a different order is refused', async () => {
    const replica = new OrderReplica(1, new MemoryOrderLog(), new RecordingCatalog());
    await replica.placeOrder(trade('k', 1));
    await assert.rejects(replica.placeOrder(trade('k', 2)), (error: unknown) => error instanceof BazaarError && error.code === 'IDEMPOTENCY_KEY_REUSED');
  });

  test('a trade the catalog refuses is not logged and takes no number', async () => {
    const catalog = new RecordingCatalog();
    const log = new MemoryOrderLog();
    const replica = new OrderReplica(1, log, catalog);
    catalog.refuse = new BazaarError('INSUFFICIENT_QUANTITY', 'no');
    await assert.rejects(replica.placeOrder(trade('a')), /no/);
    catalog.refuse = undefined;
    assert.equal(await replica.placeOrder(trade('b')), 0);
    assert.equal(log.length, 1);
  });

  test('an order whose log write failed is not acknowledged', async () => {
    const log = new MemoryOrderLog();
    log.failWrites = true;
    const replica = new OrderReplica(1, log, new RecordingCatalog());
    await assert.rejects(replica.placeOrder(trade('a')), /simulated write failure/);
    assert.equal(replica.order(0), undefined);
  });
});
