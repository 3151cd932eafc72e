// A replica recovering from a lost or damaged disk (src/order/replica/recovery.ts), driven by hand:
// it votes for no one and counts toward no majority until it holds the log of the leader that a
// majority of its peers points to. The simulator (simulator.test.ts) runs the same rules against
// disk faults at any step; here each rule is one exchange that can be read.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { OrderEntry } from '../../src/core/trade.ts';
import { MemoryOrderLog } from '../../src/disk/log.ts';
import { recoveringState } from '../../src/disk/state.ts';
import { REPLICA_TICK_MS, RECOVERY_RETRY_MS } from '../../src/core/limits.ts';
import { ReplicaMachine } from '../../src/order/replica/machine.ts';
import { committedLength } from '../../src/order/replica/majority.ts';
import type { Action } from '../../src/order/replica/messages.ts';
import type { RecoverReply } from '../../src/protocol/replication.ts';

const entry = (number: number, epoch = 5): OrderEntry => ({ number, epoch, key: `k${number}`, name: 'FishCo', type: 'buy', quantity: 1 });

/** Carries out the machine's disk actions on `log` and completes them, until only messages and replies are left. */
function settle(machine: ReplicaMachine, log: MemoryOrderLog): Action[] {
  const others: Action[] = [];
  for (let actions = machine.takeActions(); actions.length > 0; actions = machine.takeActions()) {
    for (const action of actions) {
      if (action.kind === 'persist') machine.complete(action.op, { ok: true, value: undefined });
      else if (action.kind === 'append') {
        log.appendNow(action.entries);
        machine.complete(action.op, { ok: true, value: undefined });
      } else if (action.kind === 'truncate') {
        log.truncateNow(action.length);
        machine.complete(action.op, { ok: true, value: undefined });
      } else others.push(action);
    }
  }
  return others;
}

function replyTo(actions: Action[], request: number): unknown {
  const reply = actions.find((action): action is Extract<Action, { kind: 'reply' }> => action.kind === 'reply' && action.request === request);
  assert.ok(reply !== undefined, `request ${request} was answered`);
  return reply.outcome.ok ? reply.outcome.value : { error: (reply.outcome.error as { code?: string }).code };
}

function recoverSends(actions: Action[]): Array<Extract<Action, { kind: 'send' }>> {
  return actions.filter((action): action is Extract<Action, { kind: 'send' }> => action.kind === 'send' && action.message.kind === 'recover');
}

const retryTicks = RECOVERY_RETRY_MS / REPLICA_TICK_MS;

function recoveringReplica(): { machine: ReplicaMachine; log: MemoryOrderLog } {
  const log = new MemoryOrderLog();
  return { machine: new ReplicaMachine({ id: 2, peers: [1, 3], log, state: recoveringState(undefined) }), log };
}

const sound = (reply: Partial<RecoverReply>): RecoverReply => ({ epoch: 5, leaderId: 3, serving: false, length: 3, recovering: false, ...reply });

describe('a replica recovering a lost disk', () => {
  test('votes for no one, leads nothing, and takes no entries while it does not know where the cluster stands', () => {
    const { machine, log } = recoveringReplica();
    assert.equal(machine.status().replicationRole, 'recovering');
    machine.request(1, { kind: 'poll', request: { epoch: 6, candidateId: 1 } });
    machine.request(2, { kind: 'notice', notice: { epoch: 6, leaderId: 2 } });
    machine.request(3, { kind: 'notice', notice: { epoch: 6, leaderId: 1 } });
    machine.request(4, { kind: 'append', request: { epoch: 5, leaderId: 3, startLength: 0, from: 0, prev: null, entries: [entry(0)] } });
    const actions = settle(machine, log);
    assert.deepEqual(replyTo(actions, 1), { ok: false, epoch: 0, recovering: true });
    assert.deepEqual(replyTo(actions, 2), { error: 'RECOVERING' });
    assert.deepEqual(replyTo(actions, 3), { error: 'RECOVERING' });
    assert.deepEqual(replyTo(actions, 4), { ok: false, reason: 'recovering' });
    assert.equal(log.length, 0);
    assert.equal(machine.state.epoch, 0, 'a poll did not make it join an epoch');
  });

  test('waits for a majority of the cluster among its peers (here both), then copies the serving leader\'s log, and counts only once it holds it', () => {
    const { machine, log } = recoveringReplica();
    machine.tick();
    let sends = recoverSends(settle(machine, log));
    assert.deepEqual(sends.map((send) => send.to).sort(), [1, 3]);
    // One peer answers, the other does not: one answer may miss the newest epoch (this replica may
    // have joined it with the peer that is silent), so it asks again.
    machine.complete(sends[0]!.op, { ok: true, value: sound({ serving: false }) });
    machine.complete(sends[1]!.op, { ok: false, error: new Error('unreachable') });
    const notes = settle(machine, log).filter((action) => action.kind === 'note');
    assert.match(JSON.stringify(notes), /1 of its 2 peers answered/);
    assert.equal(machine.status().recovery?.phase, 'asking');
    for (let tick = 0; tick <= retryTicks; tick += 1) machine.tick();
    sends = recoverSends(settle(machine, log));
    assert.equal(sends.length, 2, 'it asks again');
    for (const send of sends) machine.complete(send.op, { ok: true, value: send.to === 3 ? sound({ serving: true, length: 4 }) : sound({}) });
    const after = settle(machine, log);
    assert.deepEqual(machine.status().recovery, { phase: 'copying', leaderId: 3, target: 4 });
    assert.deepEqual({ epoch: machine.state.epoch, leaderId: machine.state.leaderId, recovering: machine.state.recovering }, { epoch: 5, leaderId: 3, recovering: true });
    assert.ok(after.some((action) => action.kind === 'send' && action.to === 3 && action.message.kind === 'rejoin'), 'it asks the leader for what it lacks');

    // The leader's entries: held, but answered as recovering until the log reaches the target.
    machine.request(10, { kind: 'append', request: { epoch: 5, leaderId: 3, startLength: 4, from: 0, prev: null, entries: [entry(0), entry(1)] } });
    assert.deepEqual(replyTo(settle(machine, log), 10), { ok: true, length: 2, recovering: true });
    // Still no vote while copying.
    machine.request(11, { kind: 'poll', request: { epoch: 6, candidateId: 1 } });
    assert.deepEqual(replyTo(settle(machine, log), 11), { ok: false, epoch: 5, recovering: true });
    machine.request(12, { kind: 'append', request: { epoch: 5, leaderId: 3, startLength: 4, from: 2, prev: { number: 1, epoch: 5, key: 'k1' }, entries: [entry(2), entry(3)] } });
    assert.deepEqual(replyTo(settle(machine, log), 12), { ok: true, length: 4 }, 'the answer that reaches the target counts');
    assert.equal(machine.state.recovering, false);
    assert.equal(machine.status().replicationRole, 'follower');
    assert.equal(machine.state.logEpoch, 5);
    assert.equal(log.length, 4);
  });

  test('a newer epoch while copying sends it back to asking', () => {
    const { machine, log } = recoveringReplica();
    machine.tick();
    for (const send of recoverSends(settle(machine, log))) machine.complete(send.op, { ok: true, value: sound({ serving: send.to === 3 }) });
    settle(machine, log);
    machine.request(1, { kind: 'append', request: { epoch: 6, leaderId: 1, startLength: 3, from: 0, prev: null, entries: [entry(0, 6)] } });
    assert.deepEqual(replyTo(settle(machine, log), 1), { ok: false, reason: 'recovering' });
    assert.equal(machine.status().recovery?.phase, 'asking');
  });

  test('with a majority of replicas recovering, it says the lost orders cannot come back, and never serves', () => {
    const { machine, log } = recoveringReplica();
    machine.tick();
    for (const send of recoverSends(settle(machine, log))) machine.complete(send.op, { ok: true, value: sound({ recovering: send.to === 1, serving: send.to === 3 }) });
    const notes = settle(machine, log).filter((action) => action.kind === 'note');
    assert.match(JSON.stringify(notes), /a majority of replicas lost their disks \(this one, 1\)/);
    assert.equal(machine.status().replicationRole, 'recovering');
  });

  test('the leader counts a recovering follower toward no majority, whatever it holds', () => {
    const followers = [
      { matchLength: 10, inSync: true, recovering: true },
      { matchLength: 4, inSync: false, recovering: false },
    ];
    assert.equal(committedLength(10, followers, 2), 4, 'only the sound follower and the leader count');
    assert.equal(committedLength(10, [{ ...followers[0]!, recovering: false }, followers[1]!], 2), 10);
  });
});
