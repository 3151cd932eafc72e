// The replica's state machine on its own, driven by hand: its state is in fields a test can read,
// and a log that cannot be read is an event it handles, not a throw that escapes it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { OrderEntry } from '../../src/core/trade.ts';
import { MemoryOrderLog } from '../../src/disk/log.ts';
import { ReplicaMachine } from '../../src/order/replica/machine.ts';
import type { Action } from '../../src/order/replica/messages.ts';
import { INITIAL_STATE } from '../../src/disk/state.ts';
import type { ReadLog } from '../../src/storage/log.ts';
import { StorageError } from '../../src/storage/errors.ts';

/** A log whose reads fail once `broken` is set, as a damaged file found mid-run does. */
class BreakableLog implements ReadLog<OrderEntry> {
  broken = false;
  constructor(private readonly inner: MemoryOrderLog) {}
  get length(): number {
    return this.inner.length;
  }
  get sizeBytes(): number {
    return this.inner.sizeBytes;
  }
  read(number: number): OrderEntry | undefined {
    this.check();
    return this.inner.read(number);
  }
  readRange(from: number, to: number): OrderEntry[] {
    this.check();
    return this.inner.readRange(from, to);
  }
  find(key: string): number | undefined {
    this.check();
    return this.inner.find(key);
  }
  private check(): void {
    if (this.broken) throw new StorageError('READ_FAILED', 'orders.jsonl: line 3 changed under us');
  }
}

/** Completes every persist with success until none is left; returns the other actions. */
function settlePersists(machine: ReplicaMachine): Action[] {
  const others: Action[] = [];
  for (let actions = machine.takeActions(); actions.length > 0; actions = machine.takeActions()) {
    for (const action of actions) {
      if (action.kind === 'persist') machine.complete(action.op, { ok: true, value: undefined });
      else others.push(action);
    }
  }
  return others;
}

describe('the replica state machine', () => {
  test('a lone replica told to lead joins the epoch, persists it, and serves; its serial work and pending I/O are fields', () => {
    const machine = new ReplicaMachine({ id: 1, peers: [], log: new MemoryOrderLog(), state: INITIAL_STATE });
    machine.request(1, { kind: 'notice', notice: { epoch: 1, leaderId: 1 } });
    assert.equal(machine.serialWork?.kind, 'lead', 'the election waits in a field, not a closure');
    assert.equal(machine.pending.size, 1);
    assert.equal([...machine.pending.values()][0]!.kind, 'serial');
    const replies = settlePersists(machine).filter((action) => action.kind === 'reply');
    assert.equal(replies.length, 1);
    assert.ok(replies[0]!.kind === 'reply' && replies[0]!.outcome.ok);
    assert.deepEqual([machine.status().replicationRole, machine.status().serving, machine.state.epoch, machine.state.logEpoch], ['leader', true, 1, 1]);
    assert.equal(machine.serialWork, undefined);
  });

  test('a log read that fails mid-run stops the replica: every request it held is answered STORAGE_FAILED and the driver is told, nothing thrown', () => {
    const log = new BreakableLog(new MemoryOrderLog());
    const machine = new ReplicaMachine({ id: 1, peers: [], log, state: INITIAL_STATE });
    machine.request(1, { kind: 'notice', notice: { epoch: 1, leaderId: 1 } });
    settlePersists(machine);
    machine.request(2, { kind: 'place', trade: { key: 'a', name: 'FishCo', type: 'buy', quantity: 1 } });
    const catalogCall = machine.takeActions().find((action) => action.kind === 'catalog');
    assert.ok(catalogCall !== undefined && machine.inFlight.has('a'), 'trade a waits for the catalog');
    log.broken = true;
    assert.doesNotThrow(() => machine.request(3, { kind: 'place', trade: { key: 'b', name: 'FishCo', type: 'buy', quantity: 1 } }));
    const actions = machine.takeActions();
    const failed = actions.filter((action) => action.kind === 'reply' && !action.outcome.ok).map((action) => (action.kind === 'reply' ? action.request : -1));
    assert.deepEqual(failed.sort(), [2, 3], 'both the request in flight and the one that found the fault');
    for (const action of actions) if (action.kind === 'reply' && !action.outcome.ok) assert.equal((action.outcome.error as StorageError).code, 'STORAGE_FAILED');
    assert.equal(actions.filter((action) => action.kind === 'fault').length, 1);
    assert.ok(!actions.some((action) => action.kind === 'append' || action.kind === 'persist' || action.kind === 'send'), 'no I/O decided on a failed read');
    // Stopped: a late completion and new requests change nothing.
    machine.complete((catalogCall as { op: number }).op, { ok: true, value: { version: 1 } });
    assert.deepEqual(machine.takeActions(), []);
  });
});
