// The replication logic, case by case, on an in-memory network: no sockets, no disk, faults set by
// the test. Each test is one scenario of docs/design.md "Replication" and guarantees G1-G3.
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { BazaarError } from '../../src/core/errors.ts';
import type { OrderEntry } from '../../src/core/trade.ts';
import { REPLICATION_BATCH_ENTRIES_MAX } from '../../src/core/limits.ts';
import { MemoryOrderLog } from '../../src/disk/log.ts';
import { ReplicaNode } from '../../src/order/node.ts';
import { MemoryStateStore } from '../../src/disk/state.ts';
import { until } from '../../harness/wait.ts';
import { MemoryCatalog, MemoryCluster, trade } from '../helpers/memory-cluster.ts';

function code(expected: string) {
  return (error: unknown) => error instanceof BazaarError && error.code === expected;
}

function sameKeys(a: readonly { key: string; epoch: number }[], b: readonly { key: string; epoch: number }[]): boolean {
  return a.length === b.length && a.every((entry, index) => entry.key === b[index]!.key && entry.epoch === b[index]!.epoch);
}

/** Every replica's log holds the same entries. */
function assertConverged(cluster: MemoryCluster, ids: number[] = [...cluster.nodes.keys()]): void {
  const [first, ...rest] = ids.map((id) => cluster.entries(id));
  for (const [index, entries] of rest.entries()) assert.deepEqual(entries, first, `replica ${ids[index + 1]} equals replica ${ids[0]}`);
}

const unreachable = (): never => assert.fail('a replica without peers sends no message');

let cluster: MemoryCluster;
afterEach(() => cluster?.close());

/**
 * Three replicas (in `cluster`) restarted from logs that part deep down: all share 6,000 entries of
 * epoch 1; two moved on with 1,400 entries of epoch 2; `staleId` led epoch 1 alone for a while and
 * holds 6,000 more of its own. Returns the parts, and every length `staleId`'s log is cut to.
 */
async function divergedLogs(staleId: number): Promise<{ shared: OrderEntry[]; moved: OrderEntry[]; cuts: number[] }> {
  cluster = new MemoryCluster(3);
  for (const id of [1, 2, 3]) cluster.crash(id);
  const entry = (number: number, epoch: number, key: string): OrderEntry => ({ number, epoch, key, name: 'FishCo', type: 'buy', quantity: 1 });
  const shared = Array.from({ length: 6_000 }, (_, n) => entry(n, 1, `s${n}`));
  const moved = Array.from({ length: 1_400 }, (_, i) => entry(6_000 + i, 2, `m${i}`));
  const stale = Array.from({ length: 6_000 }, (_, i) => entry(6_000 + i, 1, `x${i}`));
  const others = [1, 2, 3].filter((id) => id !== staleId);
  for (const id of others) {
    await cluster.node(id).log.append([...shared, ...moved]);
    cluster.node(id).store.state = { epoch: 2, leaderId: others[0]!, logEpoch: 2, recovering: false };
  }
  const log = cluster.node(staleId).log;
  await log.append([...shared, ...stale]);
  cluster.node(staleId).store.state = { epoch: 1, leaderId: staleId, logEpoch: 1, recovering: false };
  const cuts: number[] = [];
  const truncate = log.truncate.bind(log);
  log.truncate = (length: number) => {
    cuts.push(length);
    return truncate(length);
  };
  for (const id of [1, 2, 3]) cluster.restart(id);
  return { shared, moved, cuts };
}


describe('a single replica (no peers)', () => {
  test('numbers concurrent orders from 0 without gaps, and a repeated key yields the same number once', async (t) => {
    const catalog = new MemoryCatalog();
    const store = new MemoryStateStore();
    const replica = new ReplicaNode({ id: 1, peers: [], log: new MemoryOrderLog(), stateStore: store, state: store.state, catalog, transport: { poll: unreachable, append: unreachable, entries: unreachable, recover: unreachable, rejoin: unreachable } });
    t.after(() => replica.close());
    await replica.handleLeaderNotice({ epoch: 1, leaderId: 1 });
    const numbers = await Promise.all(Array.from({ length: 50 }, (_, index) => replica.placeOrder(trade(`k${index}`))));
    assert.deepEqual([...numbers].sort((a, b) => a - b), Array.from({ length: 50 }, (_, index) => index));
    assert.deepEqual(await Promise.all([replica.placeOrder(trade('k7')), replica.placeOrder(trade('k7'))]), [numbers[7], numbers[7]]);
    // A repeated key whose order is logged is answered from the log: the catalog is not asked again.
    assert.equal(catalog.approvals, 50);
    await until('the catalog applied the 50 orders', () => (catalog.state.applied === 50 ? true : undefined), 5_000, 2);
    assert.equal(catalog.quantity(), 1_000_000 - 50);
    await assert.rejects(replica.placeOrder(trade('k7', 2)), code('IDEMPOTENCY_KEY_REUSED'));
  });
});

describe('a failing disk', () => {
  test('an order whose log write failed on the leader is not acknowledged, and the leader stops leading', async () => {
    cluster = new MemoryCluster(3);
    await cluster.elect(3);
    cluster.node(3).log.failWrites = true;
    await assert.rejects(cluster.node(3).replica.placeOrder(trade('lost-write')), /simulated write failure/);
    // The followers' appends run alongside the leader's own, so they may hold the entry; a leader
    // whose log could not take it must not number anything else in this epoch.
    assert.equal(cluster.node(3).replica.status().serving, false);
    assert.throws(() => cluster.node(3).replica.order(0), code('NOT_LEADER'));
    await assert.rejects(cluster.node(3).replica.placeOrder(trade('next')), code('NOT_LEADER'));
  });
});

describe('replication (three replicas)', () => {
  test('an acknowledged order is in every live replica\'s log (G1)', async () => {
    cluster = new MemoryCluster(3);
    await cluster.elect(3);
    for (let index = 0; index < 20; index += 1) {
      const number = await cluster.node(3).replica.placeOrder(trade(`k${index}`));
      for (const id of [1, 2]) assert.equal(cluster.node(id).log.read(number)?.key, `k${index}`, `replica ${id} has order ${number} when it is acknowledged`);
    }
    assertConverged(cluster);
  });

  test('a follower that is down is not waited for, and is caught up when it returns', async () => {
    cluster = new MemoryCluster(3);
    await cluster.elect(3);
    cluster.crash(1);
    for (let index = 0; index < 30; index += 1) await cluster.node(3).replica.placeOrder(trade(`k${index}`));
    assert.equal(cluster.node(1).log.length, 0);
    cluster.restart(1);
    cluster.node(3).replica.rejoin(1);
    await cluster.until(() => cluster.node(1).log.length === 30, 'replica 1 caught up');
    assertConverged(cluster);
  });

  test('with no majority reachable, an order is never acknowledged (NO_QUORUM), and a candidate cannot lead', async () => {
    cluster = new MemoryCluster(3);
    await cluster.elect(3);
    cluster.crash(1);
    cluster.crash(2);
    await assert.rejects(cluster.node(3).replica.placeOrder(trade('lonely')), code('NO_QUORUM'));
    await assert.rejects(cluster.elect(3), code('NO_QUORUM'));
  });

  test('a new leader adopts the most complete log of a majority before it serves', async () => {
    cluster = new MemoryCluster(3);
    await cluster.elect(3);
    cluster.crash(2);
    for (let index = 0; index < 10; index += 1) await cluster.node(3).replica.placeOrder(trade(`k${index}`));
    cluster.crash(3);
    cluster.restart(2);
    await cluster.elect(2);
    assert.equal(cluster.node(2).log.length, 10, 'replica 2 took the 10 orders it missed from replica 1');
    assert.equal(await cluster.node(2).replica.placeOrder(trade('next')), 10);
    assert.equal(await cluster.node(2).replica.placeOrder(trade('k4')), 4, 'a key acknowledged by the old leader keeps its number');
    assertConverged(cluster, [1, 2]);
  });

  test('a stale leader (older epoch) can never get a replica to accept an entry', async () => {
    cluster = new MemoryCluster(3);
    await cluster.elect(3);
    await cluster.node(3).replica.placeOrder(trade('a'));
    // Replica 3 is cut off (hung, say) while the others move on to a new epoch with replica 2.
    cluster.down.add(3);
    await cluster.elect(2);
    await cluster.node(2).replica.placeOrder(trade('b'));
    cluster.down.delete(3);
    // Replica 3 wakes up still thinking it leads epoch 1.
    await assert.rejects(cluster.node(3).replica.placeOrder(trade('from-the-past')), code('NOT_LEADER'));
    for (const id of [1, 2]) assert.ok(cluster.entries(id).every((entry) => entry.key !== 'from-the-past'), `replica ${id} refused it`);
    assert.equal(cluster.node(3).replica.status().replicationRole, 'follower', 'the stale leader stepped down');
    const reply = await cluster.node(1).replica.handleAppend({ epoch: 1, leaderId: 3, startLength: 0, from: 2, prev: cluster.node(1).log.read(1)!, entries: [] });
    assert.deepEqual(reply, { ok: false, reason: 'stale', epoch: 2 });
  });

  test('a returning replica keeps the prefix it shares with the leader and replaces a conflicting suffix', async () => {
    cluster = new MemoryCluster(3);
    await cluster.elect(3);
    for (const key of ['a', 'b']) await cluster.node(3).replica.placeOrder(trade(key));
    // Replica 3 writes an order locally but no follower hears of it; then it dies.
    cluster.filter = (from) => from !== 3;
    await assert.rejects(
      Promise.race([cluster.node(3).replica.placeOrder(trade('orphan')), new Promise((_, reject) => setTimeout(() => { cluster.crash(3); reject(new Error('crashed')); }, 50))]),
    );
    cluster.filter = () => true;
    assert.equal(cluster.node(3).log.read(2)?.key, 'orphan', 'the orphan is in replica 3\'s own log');
    await cluster.elect(2);
    for (const key of ['c', 'd']) await cluster.node(2).replica.placeOrder(trade(key));
    cluster.restart(3);
    cluster.node(2).replica.rejoin(3);
    await cluster.until(() => cluster.node(3).log.length === 4 && sameKeys(cluster.entries(3), cluster.entries(2)), 'replica 3 holds the leader\'s log');
    assertConverged(cluster);
    assert.deepEqual(cluster.entries(3).map((entry) => entry.key), ['a', 'b', 'c', 'd'], 'the shared prefix is kept, the orphan replaced');
    // The orphan was approved, never committed: the catalog never shows it (G8) and the quantities are the log's (G4).
    await cluster.until(() => cluster.catalog.state.applied === 4, 'the catalog applied the four committed orders');
    assert.equal(cluster.catalog.quantity(), 1_000_000 - 4);
    assert.equal(cluster.catalog.state.reservations.size, 0, 'the orphan\'s reservation ended with its epoch');
  });

  test('the leader dies right after the catalog approved: a retry with the same key on the new leader trades once (G2)', async () => {
    cluster = new MemoryCluster(3);
    await cluster.elect(3);
    cluster.catalog.afterApprove = (approved) => {
      if (approved.key === 'k') cluster.crash(3);
    };
    await assert.rejects(cluster.node(3).replica.placeOrder(trade('k', 5)), code('NOT_LEADER'));
    cluster.catalog.afterApprove = undefined;
    await cluster.elect(2);
    assert.equal(await cluster.node(2).replica.placeOrder(trade('k', 5)), 0);
    assert.deepEqual(cluster.entries(1).map((entry) => entry.key), ['k']);
    await cluster.until(() => cluster.catalog.state.applied === 1, 'the catalog applied the order');
    assert.equal(cluster.catalog.quantity(), 1_000_000 - 5, 'traded once');
  });

  test('a trade approved whose leader died before logging it, never retried, is never applied: its reservation ends with its epoch (G4, G8)', async () => {
    cluster = new MemoryCluster(3);
    await cluster.elect(3);
    cluster.catalog.afterApprove = (approved) => {
      if (approved.key === 'orphaned') cluster.crash(3);
    };
    // It reserves all five of Scarce, and its leader dies before logging it.
    await assert.rejects(cluster.node(3).replica.placeOrder(trade('orphaned', 5, 'Scarce')));
    cluster.catalog.afterApprove = undefined;
    assert.equal(cluster.catalog.state.available('Scarce'), 0, 'reserved while its fate is unknown');
    assert.equal(cluster.catalog.quantity('Scarce'), 5, 'but never shown (G8)');
    await cluster.elect(2);
    // The new epoch's starting log is applied, so the old reservation can never commit: the five are free.
    assert.equal(await cluster.node(2).replica.placeOrder(trade('other', 5, 'Scarce')), 0);
    await cluster.until(() => cluster.catalog.state.applied === 1, 'the catalog applied the order');
    assert.equal(cluster.catalog.quantity('Scarce'), 0);
    assert.equal(cluster.node(2).log.find('orphaned'), undefined);
  });

  test('the catalog applies every committed order once, in number order; restarted from nothing, it is brought level with the log', async () => {
    cluster = new MemoryCluster(3);
    await cluster.elect(3);
    for (const key of ['a', 'b', 'c']) await cluster.node(3).replica.placeOrder(trade(key, 2));
    await cluster.until(() => cluster.catalog.state.applied === 3 && cluster.catalog.state.ready, 'the catalog applied three');
    const before = cluster.catalog.state.checkpoint();
    cluster.catalog.restart(true);
    assert.equal(cluster.catalog.state.ready, false, 'a catalog that lost its disk serves nothing until it is level');
    await cluster.until(() => cluster.catalog.state.ready, 'the leader brought the empty catalog level with the log');
    assert.deepEqual(cluster.catalog.state.checkpoint(), before, 'the same state, versions included');
    assert.equal(await cluster.node(3).replica.placeOrder(trade('d')), 3, 'and trades go on');
  });

  test('a restarted catalog approves nothing before it holds every entry the leader logged with the old one\'s approval (incarnation fence)', async () => {
    cluster = new MemoryCluster(3);
    await cluster.elect(3);
    // Three of Scarce's five are approved by the first incarnation and logged, not yet committed.
    cluster.crash(1);
    cluster.crash(2);
    await assert.rejects(cluster.node(3).replica.placeOrder(trade('first', 3, 'Scarce')), code('NO_QUORUM'));
    assert.equal(cluster.node(3).log.find('first'), 0);
    // The catalog restarts: its reservation of the three is gone.
    cluster.catalog.restart();
    await assert.rejects(cluster.node(3).replica.placeOrder(trade('second', 3, 'Scarce')), code('UPSTREAM_UNAVAILABLE'), 'not approved against a state that lacks "first"');
    for (const id of [1, 2]) {
      cluster.restart(id);
      cluster.node(3).replica.rejoin(id);
    }
    await cluster.until(() => cluster.catalog.state.applied === 1, '"first" committed and applied');
    await assert.rejects(cluster.node(3).replica.placeOrder(trade('third', 3, 'Scarce')), code('INSUFFICIENT_QUANTITY'));
    assert.equal(await cluster.node(3).replica.placeOrder(trade('fourth', 2, 'Scarce')), 1);
    await cluster.until(() => cluster.catalog.state.applied === 2, 'applied');
    assert.equal(cluster.catalog.quantity('Scarce'), 0);
    assert.equal(cluster.catalog.state.violations, 0);
  });

  test('the leader dies half-way through propagation: the new leader adopts the order and the retry gets its number (G2)', async () => {
    cluster = new MemoryCluster(3);
    await cluster.elect(3);
    await cluster.node(3).replica.placeOrder(trade('first'));
    // The next order reaches replica 1 but never replica 2.
    cluster.filter = (from, to, message) => !(from === 3 && to === 2 && message.kind === 'append' && message.request.entries.some((entry) => entry.key === 'half'));
    const pending = cluster.node(3).replica.placeOrder(trade('half'));
    await cluster.until(() => cluster.node(1).log.find('half') !== undefined, 'replica 1 has the order');
    cluster.crash(3);
    // Replica 3 and replica 1 are a majority, so the order may have been acknowledged before the
    // crash, or not: either way the retry must get the same number and trade nothing twice.
    await pending.catch(() => undefined);
    cluster.filter = () => true;
    await cluster.elect(2);
    assert.equal(await cluster.node(2).replica.placeOrder(trade('half')), 1, 'same number as the half-propagated entry');
    await cluster.until(() => cluster.catalog.state.applied === 2, 'the catalog applied both orders');
    assert.equal(cluster.catalog.quantity(), 1_000_000 - 2, 'the catalog traded the key once');
    assertConverged(cluster, [1, 2]);
  });

  test('a replica half-way through catching up never wins an election over one with the whole log', async () => {
    cluster = new MemoryCluster(3);
    cluster.crash(1);
    await cluster.elect(3);
    const total = REPLICATION_BATCH_ENTRIES_MAX + 500;
    await Promise.all(Array.from({ length: total }, (_, index) => cluster.node(3).replica.placeOrder(trade(`k${index}`))));
    // Replica 3 dies; replica 1 returns and replica 2 leads epoch 2. Replica 1 gets the first batch of
    // what it missed; every later batch is lost.
    cluster.crash(3);
    cluster.restart(1);
    let batches = 0;
    cluster.filter = (_from, to, message) => !(to === 1 && message.kind === 'append' && message.request.entries.length > 0 && (batches += 1) > 1);
    // Replica 2 cannot serve (its only follower never gets the whole starting log), so its election
    // is left running while replica 1 takes the one batch.
    const election = cluster.elect(2).then(() => assert.fail('epoch 2 must not serve without a majority'), () => undefined);
    await cluster.until(() => cluster.node(1).log.length === REPLICATION_BATCH_ENTRIES_MAX, 'replica 1 has one batch');
    assert.equal(cluster.node(1).store.state.epoch, 2);
    assert.equal(cluster.node(1).store.state.logEpoch, 0, 'a partial catch-up does not raise the log epoch');
    // Replica 2 dies too; replica 3 comes back; replica 1 stands for epoch 3.
    cluster.crash(2);
    await election;
    cluster.filter = () => true;
    cluster.restart(3);
    await cluster.elect(1);
    assert.equal(cluster.node(1).log.length, total, 'replica 1 adopted replica 3\'s complete log, losing no acknowledged order');
    assertConverged(cluster, [1, 3]);
  });

  test('a replica that missed thousands of orders catches up in bounded batches while the leader keeps serving', async () => {
    cluster = new MemoryCluster(3);
    await cluster.elect(3);
    cluster.crash(1);
    const missed = REPLICATION_BATCH_ENTRIES_MAX * 3;
    await Promise.all(Array.from({ length: missed }, (_, index) => cluster.node(3).replica.placeOrder(trade(`m${index}`))));
    cluster.restart(1);
    cluster.node(3).replica.rejoin(1);
    let served = 0;
    while (cluster.node(1).log.length < missed && served < 1_000) {
      await cluster.node(3).replica.placeOrder(trade(`during${served}`));
      served += 1;
    }
    await cluster.until(() => cluster.node(1).log.length === cluster.node(3).log.length, 'replica 1 caught up');
    assert.ok(served > 0, 'the leader served orders during the catch-up');
    const largest = Math.max(...cluster.delivered.filter((item) => item.to === 1).map((item) => item.request.entries.length));
    assert.ok(largest <= REPLICATION_BATCH_ENTRIES_MAX, `batches are bounded (largest ${largest})`);
    assertConverged(cluster);
  });

  test('a follower with a long stale suffix is caught up without ever losing the prefix it shares with the leader', async () => {
    // Replica 3 led epoch 1 alone for a while (thousands of entries no one else has); replicas 1 and
    // 2 moved on in epoch 2. Finding where 3's log parts from the leader's takes many mismatches: no
    // message on the way may be one that ends inside the shared prefix, or 3 cuts what it shares,
    // acknowledged orders included (on five replicas that can leave one on a minority).
    const { shared, cuts } = await divergedLogs(3);
    await cluster.elect(1);
    cluster.node(1).replica.rejoin(3);
    await cluster.until(() => sameKeys(cluster.entries(3), cluster.entries(1)), 'replica 3 holds the leader\'s log', 20_000);
    assert.ok(cuts.length > 0, 'replica 3 cut its stale suffix');
    assert.ok(Math.min(...cuts) >= shared.length, `replica 3 never cut into the prefix it shares with the leader (cut to ${Math.min(...cuts)}, shared ${shared.length})`);
  });

  test('a new leader with a long stale suffix adopts a majority\'s log without ever losing the prefix it shares with it', async () => {
    // The same search, the other way: replica 1 is chosen to lead while its own log is the stale one.
    // It must take replicas 2 and 3's log; what it shares with them it keeps throughout.
    const { shared, moved, cuts } = await divergedLogs(1);
    await cluster.elect(1);
    assert.ok(sameKeys(cluster.entries(1), [...shared, ...moved]), 'the new leader took the majority\'s log');
    assert.ok(cuts.length > 0, 'replica 1 cut its stale suffix');
    assert.ok(Math.min(...cuts) >= shared.length, `replica 1 never cut into the prefix it shares with the others (cut to ${Math.min(...cuts)}, shared ${shared.length})`);
  });

  test('a restarted replica never leads on its own: it must be chosen for a new epoch', async () => {
    cluster = new MemoryCluster(3);
    await cluster.elect(3);
    await cluster.node(3).replica.placeOrder(trade('a'));
    cluster.crash(3);
    cluster.restart(3);
    await assert.rejects(cluster.node(3).replica.placeOrder(trade('b')), code('NOT_LEADER'));
    assert.throws(() => cluster.node(3).replica.order(0), code('NOT_LEADER'));
    await assert.rejects(cluster.node(3).replica.handleLeaderNotice({ epoch: 1, leaderId: 3 }), code('STALE_EPOCH'));
  });
});
