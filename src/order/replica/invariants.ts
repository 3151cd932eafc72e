// What must hold after every event the machine handles; a broken one is a programmer error.
import assert from 'node:assert/strict';
import type { Replica } from './context.ts';

/**
 * `assert.ok` for the invariants checked after every event: the same AssertionError when one breaks,
 * without the argument handling that made `assert.ok` a visible cost on the trade path's profile.
 */
function invariant(holds: boolean, message: string): void {
  if (!holds) throw new assert.AssertionError({ message, actual: false, expected: true, operator: '==' });
}

/** What the last check saw, for the properties that compare one event with the one before. */
export interface Seen {
  epoch: number;
  commit: { epoch: number; length: number };
}

export function checkInvariants(replica: Replica, seen: Seen): void {
  const { log, state } = replica;
  const length = log.length;
  invariant(state.epoch >= seen.epoch, 'the epoch only rises');
  seen.epoch = state.epoch;
  invariant(state.logEpoch <= state.epoch, 'the log epoch is never ahead of the epoch');
  if (!log.truncating) {
    invariant(log.nextNumber >= length, 'queued appends continue the durable log');
    invariant(log.appending > 0 || log.nextNumber === length, 'with no append queued, the next number is the length');
    invariant(log.nextNumber - log.queued.length <= length, 'every entry before the queued ones is durable');
  }
  const leader = replica.leading;
  if (leader === undefined) return;
  invariant(replica.replicationRole === 'leader', 'a replica with a leader\'s epoch is the leader');
  invariant(leader.epoch === state.epoch, 'the leader leads the current epoch');
  invariant(leader.commitLength <= length, 'the commit point never passes the log');
  for (const follower of leader.followers) invariant(follower.matchLength <= log.nextNumber, 'a follower never matches past the leader\'s log');
  if (seen.commit.epoch === leader.epoch) invariant(leader.commitLength >= seen.commit.length, 'the commit point only rises');
  seen.commit = { epoch: leader.epoch, length: leader.commitLength };
  if (leader.serving) invariant(leader.commitLength >= leader.startLength, 'a serving leader has its starting log on a majority');
}
