import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CatalogStore } from '../../src/catalog/store.ts';
import { BazaarError } from '../../src/core/errors.ts';

const seeds = [
  { name: 'FishCo', price: 12.5, quantity: 10 },
  { name: 'BoarCo', price: 18, quantity: 100 },
];
const noLockLoss = (): void => assert.fail('the lock must not be lost in this test');

function refusedWith(code: string) {
  return (error: unknown) => error instanceof BazaarError && error.code === code;
}

describe('CatalogStore', () => {
  let dir = '';
  let count = 0;
  const journal = () => path.join(dir, `journal-${(count += 1)}`, 'trades.jsonl');
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bazaar-catalog-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('a buy lowers the quantity, a sell raises it, and both add to the volume', async () => {
    const store = await CatalogStore.open(journal(), seeds, noLockLoss);
    await store.trade({ key: 'a', name: 'FishCo', type: 'buy', quantity: 4 });
    await store.trade({ key: 'b', name: 'FishCo', type: 'sell', quantity: 1 });
    assert.deepEqual(store.lookup('FishCo')?.stock, { name: 'FishCo', price: 12.5, quantity: 7, volume: 5 });
    await store.close();
  });

  test('buying more than is available is refused and changes nothing', async () => {
    const store = await CatalogStore.open(journal(), seeds, noLockLoss);
    await assert.rejects(store.trade({ key: 'a', name: 'FishCo', type: 'buy', quantity: 11 }), refusedWith('INSUFFICIENT_QUANTITY'));
    await assert.rejects(store.trade({ key: 'b', name: 'Nope', type: 'buy', quantity: 1 }), refusedWith('STOCK_NOT_FOUND'));
    assert.deepEqual(store.lookup('FishCo')?.stock, { name: 'FishCo', price: 12.5, quantity: 10, volume: 0 });
    assert.equal(store.committedCount, 0);
    await store.close();
  });

  test('a key is applied once: a repeat changes nothing, a different trade under it is refused', async () => {
    const store = await CatalogStore.open(journal(), seeds, noLockLoss);
    const first = await store.trade({ key: 'k', name: 'BoarCo', type: 'buy', quantity: 5 });
    const again = await store.trade({ key: 'k', name: 'BoarCo', type: 'buy', quantity: 5 });
    assert.equal(first.applied, true);
    assert.equal(again.applied, false);
    assert.equal(store.lookup('BoarCo')?.stock.quantity, 95);
    await assert.rejects(store.trade({ key: 'k', name: 'BoarCo', type: 'sell', quantity: 5 }), refusedWith('IDEMPOTENCY_KEY_REUSED'));
    await store.close();
  });

  test('concurrent repeats of one key apply it once', async () => {
    const store = await CatalogStore.open(journal(), seeds, noLockLoss);
    const outcomes = await Promise.all(Array.from({ length: 10 }, () => store.trade({ key: 'same', name: 'BoarCo', type: 'buy', quantity: 1 })));
    assert.equal(outcomes.filter((outcome) => outcome.applied).length, 1);
    assert.equal(store.lookup('BoarCo')?.stock.quantity, 99);
    await store.close();
  });

  test('concurrent buys never sell more than there is', async () => {
    const store = await CatalogStore.open(journal(), seeds, noLockLoss);
    const results = await Promise.allSettled(
      Array.from({ length: 25 }, (_, index) => store.trade({ key: `b${index}`, name: 'FishCo', type: 'buy', quantity: 1 })),
    );
    assert.equal(results.filter((result) => result.status === 'fulfilled').length, 10);
    assert.equal(store.lookup('FishCo')?.stock.quantity, 0);
    await store.close();
  });

  test('every acknowledged trade and every applied key survive a reopen', async () => {
    const file = journal();
    const store = await CatalogStore.open(file, seeds, noLockLoss);
    await Promise.all(Array.from({ length: 30 }, (_, index) => store.trade({ key: `t${index}`, name: 'BoarCo', type: index % 3 === 0 ? 'sell' : 'buy', quantity: 2 })));
    const before = store.lookup('BoarCo');
    await store.close();
    assert.equal((await readFile(file, 'utf8')).trimEnd().split('\n').length, 30);

    const reopened = await CatalogStore.open(file, seeds, noLockLoss);
    assert.deepEqual(reopened.lookup('BoarCo'), before);
    const repeat = await reopened.trade({ key: 't7', name: 'BoarCo', type: 'buy', quantity: 2 });
    assert.equal(repeat.applied, false, 'a key applied before the restart is not applied again');
    assert.deepEqual(reopened.lookup('BoarCo'), before);
    await reopened.close();
  });

  test('a journal that trades a stock missing from the stock list is refused on open', async () => {
    const file = journal();
    const store = await CatalogStore.open(file, seeds, noLockLoss);
    await store.trade({ key: 'x', name: 'BoarCo', type: 'buy', quantity: 1 });
    await store.close();
    await assert.rejects(CatalogStore.open(file, [seeds[0]!], noLockLoss), /BoarCo, which is not in the stock list/);
  });
});
