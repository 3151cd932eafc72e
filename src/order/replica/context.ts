// What the parts of the machine (leader.ts, follower.ts, election.ts) share: the replica's fields and
// the plumbing that turns decisions into actions. `ReplicaMachine` (machine.ts) is the one
// implementation; the parts see it through this interface, so no file imports the machine.
import { BazaarError } from '../../core/errors.ts';
import { REPLICA_TICK_MS } from '../../core/limits.ts';
import type { OrderEntry } from '../../core/trade.ts';
import type { ReplicaStatus, ReplicationRole } from '../../protocol/health.ts';
import type { ReplicaState } from '../../disk/state.ts';
import { fail, type IoAction, type Outcome } from './messages.ts';
import type { Election, Pending, Recovery, SerialWork } from './pending.ts';
import type { Flight, LeaderEpoch } from './progress.ts';
import type { WrittenLog } from './written.ts';

export interface Replica {
  readonly id: number;
  /** Every other replica's id. */
  readonly peers: readonly number[];
  readonly majority: number;
  readonly log: WrittenLog;
  /** Entries per replication message. */
  readonly batchEntries: number;
  /** The state as this replica last decided it (persisted by a `persist` action). */
  state: ReplicaState;
  replicationRole: ReplicationRole;
  /** The leader's state for its epoch, while it leads. */
  leading: LeaderEpoch | undefined;
  election: Election | undefined;
  /** While the replica recovers from a lost or damaged disk (recovery.ts). */
  recovery: Recovery | undefined;
  readonly inFlight: Map<string, Flight>;
  /**
   * Follower: this log equals the current epoch's leader's below this length, as this replica has
   * told the leader. Reset with each new epoch. After a restart, a log whose logEpoch is the current
   * epoch is all the leader's (it was cut to the leader's when the log epoch was raised, and only
   * the leader's entries were written since).
   */
  matched: number;
  /** Ticks since start. */
  readonly now: number;
  readonly closed: boolean;

  /** Starts a piece of I/O; its completion is dispatched on `pending`. */
  io(action: IoAction, pending: Pending): void;
  reply(request: number, outcome: Outcome<unknown>): void;
  note(message: string): void;
  /** Queues serial work; it starts once the work before it finished. */
  enqueue(work: SerialWork): void;
  /** The current serial work is done; the next starts at the end of this event. */
  finishSerial(work: SerialWork): void;
  status(): ReplicaStatus;
}

export function notLeader(id: number, leaderId: number | null): BazaarError {
  const hint = leaderId === null || leaderId === id ? 'no leader is known' : `replica ${leaderId} leads`;
  return new BazaarError('NOT_LEADER', `order replica ${id} is not the serving leader (${hint}); choose the leader again`);
}

export function notLeaderOf(replica: Replica): BazaarError {
  return notLeader(replica.id, replica.state.leaderId);
}

/** Saves the state as it now is; `work` resumes once it is durable. */
export function persistState(replica: Replica, work: SerialWork): void {
  replica.io({ kind: 'persist', state: replica.state }, { kind: 'serial', work });
}

/** Ends the election for `epoch`, if it is the one running: every notice that asked for it gets the outcome. */
export function finishElection(replica: Replica, epoch: number, outcome: Outcome<void>): void {
  const election = replica.election;
  if (election?.epoch !== epoch || election.outcome !== undefined) return;
  election.outcome = outcome;
  for (const request of election.requests.splice(0)) replica.reply(request, outcome.ok ? { ok: true, value: replica.status() } : outcome);
}

export function entryRef(entry: OrderEntry): { number: number; epoch: number; key: string } {
  return { number: entry.number, epoch: entry.epoch, key: entry.key };
}

export { fail };

/** Milliseconds as whole ticks, at least one. */
export function ticks(ms: number): number {
  return Math.max(1, Math.ceil(ms / REPLICA_TICK_MS));
}
