// The catalog as state derived from the order log (src/catalog/state.ts), its checkpoint on disk and
// its driver (src/catalog/store.ts): each test is one rule of "one truth" and its fences.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { parseCheckpoint } from '../../src/catalog/checkpoint.ts';
import { CatalogState } from '../../src/catalog/state.ts';
import { CatalogStore } from '../../src/catalog/store.ts';
import { BazaarError } from '../../src/core/errors.ts';
import type { Logger } from '../../src/core/logger.ts';
import type { KeyedTrade, OrderEntry } from '../../src/core/trade.ts';
import type { ApplyRequest, ApproveRequest } from '../../src/protocol/catalog.ts';

const STOCKS = [
  { name: 'FishCo', price: 1.5, quantity: 10 },
  { name: 'BoarCo', price: 2, quantity: 3 },
];

const buy = (key: string, quantity: number, name = 'FishCo'): KeyedTrade => ({ key, name, type: 'buy', quantity });
const sell = (key: string, quantity: number, name = 'FishCo'): KeyedTrade => ({ key, name, type: 'sell', quantity });
const entry = (number: number, trade: KeyedTrade, epoch = 1): OrderEntry => ({ number, epoch, ...trade });

/** An approval from the leader of `epoch`, naming `incarnation`. */
function ask(trade: KeyedTrade, incarnation: string | null, options: Partial<ApproveRequest> = {}): ApproveRequest {
  return { trade, epoch: 1, startLength: 0, incarnation, since: 0, ...options };
}

/** Committed entries `entries` (starting at `from`) of `log`, as the leader sends them. */
function applyOf(log: readonly OrderEntry[], from: number, to: number, options: Partial<ApplyRequest> = {}): ApplyRequest {
  const prev = from === 0 ? null : { number: from - 1, key: log[from - 1]!.key };
  return { epoch: 1, startLength: 0, commitLength: to, from, prev, entries: log.slice(from, to), incarnation: 'a', since: 0, ...options };
}

const code = (expected: string) => (error: unknown) => error instanceof BazaarError && error.code === expected;

describe('the catalog derived from the order log', () => {
  test('is the initial list plus every committed order applied once, in number order; a version is the last order\'s number + 1', () => {
    const state = new CatalogState(STOCKS, 'a');
    const log = [entry(0, buy('k0', 4)), entry(1, sell('k1', 2, 'BoarCo')), entry(2, buy('k2', 1))];
    assert.deepEqual(state.apply(applyOf(log, 0, 2)), { incarnation: 'a', applied: 2 });
    // A repeat of what it has is not applied again; it answers where it stands.
    assert.deepEqual(state.apply(applyOf(log, 0, 2)), { incarnation: 'a', applied: 2 });
    state.apply(applyOf(log, 2, 3));
    assert.deepEqual(state.lookup('FishCo'), { stock: { name: 'FishCo', price: 1.5, quantity: 5, volume: 5 }, version: 3 });
    assert.deepEqual(state.lookup('BoarCo'), { stock: { name: 'BoarCo', price: 2, quantity: 5, volume: 2 }, version: 2 });
    // Entries past where it stands are not taken: it answers where to start.
    assert.deepEqual(state.apply(applyOf([...log, entry(3, buy('k3', 1)), entry(4, buy('k4', 1))], 4, 5)), { incarnation: 'a', applied: 3 });
  });

  test('an approval reserves, and changes nothing a lookup shows (G8); a buy must fit what is left after every reserved buy', () => {
    const state = new CatalogState(STOCKS, 'a');
    assert.equal(state.approve(ask(buy('a', 7), 'a')).status, 'approved');
    assert.equal(state.lookup('FishCo')!.stock.quantity, 10, 'not shown before it commits');
    assert.throws(() => state.approve(ask(buy('b', 4), 'a')), code('INSUFFICIENT_QUANTITY'));
    assert.equal(state.approve(ask(buy('b', 3), 'a')).status, 'approved');
    assert.equal(state.approve(ask(buy('a', 7), 'a')).status, 'approved', 'a repeated key gets the same answer');
    assert.throws(() => state.approve(ask(buy('a', 6), 'a')), code('IDEMPOTENCY_KEY_REUSED'));
    assert.throws(() => state.approve(ask(buy('c', 1, 'Nope'), 'a')), code('STOCK_NOT_FOUND'));
    // Committed, the reservation becomes the change.
    state.apply(applyOf([entry(0, buy('a', 7))], 0, 1));
    assert.equal(state.lookup('FishCo')!.stock.quantity, 3);
    assert.equal(state.available('FishCo'), 0, 'b is still reserved');
    assert.equal(state.violations, 0);
  });

  test('a deposed leader is refused, and reservations of older epochs end once the new epoch\'s starting log is applied (epoch fence)', () => {
    const state = new CatalogState(STOCKS, 'a');
    state.approve(ask(buy('old', 10), 'a', { epoch: 1 }));
    assert.equal(state.available('FishCo'), 0);
    // Epoch 2 starts from a log of one entry (adopted from epoch 1: 'kept'); 'old' was never logged.
    const log = [entry(0, buy('kept', 1))];
    assert.equal(state.approve(ask(buy('new', 1), 'a', { epoch: 2, startLength: 1, since: 1 })).status, 'behind', 'not before the starting log is applied');
    assert.equal(state.available('FishCo'), 0, 'the old reservation holds until then');
    state.apply(applyOf(log, 0, 1, { epoch: 2, startLength: 1, since: 1 }));
    assert.equal(state.available('FishCo'), 9, 'the old reservation ended with its epoch');
    assert.throws(() => state.approve(ask(buy('late', 1), 'a', { epoch: 1 })), code('STALE_EPOCH'));
    assert.throws(() => state.apply(applyOf(log, 1, 1, { epoch: 1 })), code('STALE_EPOCH'));
    assert.equal(state.approve(ask(buy('new', 1), 'a', { epoch: 2, startLength: 1, since: 1 })).status, 'approved');
  });

  test('another incarnation\'s name is answered "restarted", and nothing is approved before the entries before `since` are applied (incarnation fence)', () => {
    const state = new CatalogState(STOCKS, 'b');
    assert.deepEqual(state.approve(ask(buy('x', 1), 'a')), { status: 'restarted', incarnation: 'b' });
    assert.equal(state.available('FishCo'), 10, 'nothing reserved');
    // The leader names it, with two entries before `since` that another incarnation approved.
    const log = [entry(0, buy('p', 6)), entry(1, buy('q', 3))];
    assert.equal(state.approve(ask(buy('x', 5), 'b', { since: 2 })).status, 'behind');
    state.apply(applyOf(log, 0, 2, { incarnation: 'b', since: 2 }));
    assert.throws(() => state.approve(ask(buy('x', 5), 'b', { since: 2 })), code('INSUFFICIENT_QUANTITY'), 'checked against p and q');
  });

  test('serves lookups only once level with the log of a leader that names it (readiness)', () => {
    const state = new CatalogState(STOCKS, 'b');
    const log = [entry(0, buy('p', 1)), entry(1, buy('q', 1))];
    state.apply(applyOf(log, 0, 1, { incarnation: null, since: 0 }));
    assert.equal(state.ready, false, 'a message sent before the leader knew this incarnation');
    state.apply(applyOf(log, 1, 1, { incarnation: 'b', since: 2 }));
    assert.equal(state.ready, false, 'entry 1 was approved elsewhere and is not applied yet');
    state.apply(applyOf(log, 1, 2, { incarnation: 'b', since: 2 }));
    assert.equal(state.ready, true);
  });

  test('a checkpoint from another log is thrown away: the log is the truth', () => {
    const first = new CatalogState(STOCKS, 'a');
    first.apply(applyOf([entry(0, buy('x', 5)), entry(1, buy('y', 1))], 0, 2));
    const checkpoint = first.checkpoint();
    const again = new CatalogState(STOCKS, 'b', checkpoint);
    assert.equal(again.applied, 2);
    const other = [entry(0, buy('m', 1)), entry(1, buy('n', 1)), entry(2, buy('o', 1))];
    again.apply(applyOf(other, 2, 3));
    assert.equal(again.applied, 0, 'entry 1 is not the one the checkpoint ended with');
    again.apply(applyOf(other, 0, 3));
    assert.equal(again.lookup('FishCo')!.stock.quantity, 7);
    const ahead = new CatalogState(STOCKS, 'c', checkpoint);
    ahead.apply(applyOf(other, 1, 1));
    assert.equal(ahead.applied, 0, 'a checkpoint ahead of the committed log');
  });
});

describe('the catalog checkpoint', () => {
  test('round-trips, and a damaged or half-written one is refused with the reason', () => {
    const state = new CatalogState(STOCKS, 'a');
    state.apply(applyOf([entry(0, buy('x', 5))], 0, 1));
    const text = `${JSON.stringify({ format: 1, ...state.checkpoint() })}\n`;
    assert.deepEqual(parseCheckpoint(text), state.checkpoint());
    assert.throws(() => parseCheckpoint(text.slice(0, 40)), /not JSON/);
    assert.throws(() => parseCheckpoint(JSON.stringify({ format: 1, applied: 3, last: { number: 0, key: 'x' }, stocks: [] })), /"last" is not the entry before "applied"/);
    assert.throws(() => parseCheckpoint(JSON.stringify({ format: 2 })), /format 1/);
  });
});

describe('the catalog store', () => {
  let dir: string | undefined;
  const quiet: Logger = { info: () => {}, warn: () => {}, error: () => {} };
  afterEach(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  test('a lookup of a stock with a trade approved waits for its fate (G5), and shows it only once committed (G8); the checkpoint survives a restart', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bazaar-catalog-'));
    const file = path.join(dir, 'catalog', 'checkpoint.json');
    const store = await CatalogStore.open(file, STOCKS, quiet, () => {});
    await assert.rejects(store.lookup('FishCo'), code('CATALOG_REBUILDING'), 'not before a leader has brought it level');
    const incarnation = store.state.incarnation;
    store.apply({ epoch: 1, startLength: 0, commitLength: 0, from: 0, prev: null, entries: [], incarnation, since: 0 });
    assert.equal((await store.lookup('FishCo'))!.stock.quantity, 10);
    assert.equal((await store.approve(ask(buy('k', 4), incarnation))).status, 'approved');
    let seen: number | undefined;
    const lookup = store.lookup('FishCo').then((found) => (seen = found!.stock.quantity));
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(seen, undefined, 'held while the trade\'s fate is unknown');
    assert.equal((await store.lookup('BoarCo'))!.stock.quantity, 3, 'other stocks are not held');
    store.apply({ epoch: 1, startLength: 0, commitLength: 1, from: 0, prev: null, entries: [entry(0, buy('k', 4))], incarnation, since: 0 });
    await lookup;
    assert.equal(seen, 6, 'the committed trade');
    await store.close();
    assert.match(await readFile(file, 'utf8'), /"applied":1/);
    const again = await CatalogStore.open(file, STOCKS, quiet, () => {});
    assert.equal(again.state.applied, 1, 'restarted from its checkpoint');
    await again.close();
    await writeFile(file, '{"format":1,"applied":');
    const damaged = await CatalogStore.open(file, STOCKS, quiet, () => {});
    assert.equal(damaged.state.applied, 0, 'a damaged checkpoint costs a rebuild, nothing else');
    await damaged.close();
  });
});
