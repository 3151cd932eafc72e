// The order replica's replication logic as a synchronous state machine: events in (a request, the
// outcome of an action, a tick), actions out (persist the state, append, truncate, send, call the
// catalog, reply). No await, no timer, no clock: time passes only through `tick()`, and every piece
// of I/O is an action the driver (node.ts) carries out and completes with `complete()`. The
// simulator (test/helpers/simulator.ts) drives this same class on an in-memory network.
//
// The rules that make the lab's scheme correct under crashes at any instruction:
// - An order is acknowledged once it is durable on the leader, on every follower the leader counts as
//   in sync, and on a majority of all replicas. A follower that is behind or unreachable is not
//   waited for (it catches up in the background) but a majority is never given up (leader.ts).
// - A new leader joins its epoch on a majority first (they then refuse every older leader), adopts
//   the most complete log among them (highest logEpoch, then longest), and serves only once a
//   majority holds that starting log (election.ts). Every acknowledged order is on a majority, so it
//   is in the log any later leader adopts, and no acknowledged entry is ever cut.
// - A follower sets logEpoch to the leader's epoch only once it holds the leader's whole starting
//   log; a replica half-way through catching up can never win an election over one that is complete.
// - Work that changes the log or the state outside the leader's own appends runs one at a time
//   (serial work), and only once the leader's own appends have settled.
//
// All state is in fields: what each outstanding action is for (`pending`), the serial work and its
// stage, the leader's progress per follower, the election's poll round. Its parts: messages.ts (what
// goes in and out), written.ts (the log with its unwritten tail), progress.ts and majority.ts (the
// leader's bookkeeping and the commit arithmetic), leader.ts, follower.ts, election.ts (the rules),
// invariants.ts (checked after every event).
import assert from 'node:assert/strict';
import { BazaarError } from '../../core/errors.ts';
import { REPLICATION_BATCH_ENTRIES_MAX } from '../../core/limits.ts';
import type { OrderEntry } from '../../core/trade.ts';
import type { ReplicaStatus, ReplicationRole } from '../../protocol/health.ts';
import type { ReadLog } from '../../storage/log.ts';
import type { ReplicaState } from '../../disk/state.ts';
import { fail, notLeaderOf, type Replica } from './context.ts';
import { polled, standForElection, tickElection } from './election.ts';
import { AppendWork, NoticeWork, PollWork } from './follower.ts';
import { checkInvariants, type Seen } from './invariants.ts';
import { applyCompleted, approvalCompleted, ownAppended, placeOrder, rejoin, replicated, servingLeader, stepDown, tickLeader } from './leader.ts';
import { majorityOf } from '../../core/quorum.ts';
import type { Action, IoAction, Outcome, Request } from './messages.ts';
import type { Election, Pending, Recovery, SerialWork } from './pending.ts';
import type { Flight, LeaderEpoch } from './progress.ts';
import { recoverAnswered, recoverReply, recoveryStatus, startingRecovery, tickRecovery } from './recovery.ts';
import type { RecoverReply } from '../../protocol/replication.ts';
import { StorageFault, WrittenLog } from './written.ts';

export interface MachineOptions {
  readonly id: number;
  /** Every other replica's id. */
  readonly peers: readonly number[];
  /** The log as it is on disk; the machine changes it only through actions. */
  readonly log: ReadLog<OrderEntry>;
  /** The state as it was last made durable. */
  readonly state: ReplicaState;
  /** Entries per replication message (the simulator makes it small to exercise batching). */
  readonly batchEntries?: number;
}

export class ReplicaMachine implements Replica {
  readonly id: number;
  readonly peers: readonly number[];
  readonly majority: number;
  readonly log: WrittenLog;
  readonly batchEntries: number;
  state: ReplicaState;
  replicationRole: ReplicationRole = 'follower';
  leading: LeaderEpoch | undefined;
  election: Election | undefined;
  recovery: Recovery | undefined;
  readonly inFlight = new Map<string, Flight>();
  matched: number;
  now = 0;
  closed = false;
  /** What each action not yet completed is for, by op. */
  readonly pending = new Map<number, Pending>();
  readonly serialQueue: SerialWork[] = [];
  serialWork: SerialWork | undefined;
  private nextOp = 1;
  private outbox: Action[] = [];
  private readonly seen: Seen;

  constructor(options: MachineOptions) {
    assert.ok(!options.peers.includes(options.id), 'a replica is not its own peer');
    this.id = options.id;
    this.peers = options.peers;
    this.majority = majorityOf(options.peers.length + 1);
    this.log = new WrittenLog(options.log);
    this.state = options.state;
    this.batchEntries = options.batchEntries ?? REPLICATION_BATCH_ENTRIES_MAX;
    this.matched = options.state.logEpoch === options.state.epoch && !options.state.recovering ? this.log.length : 0;
    this.recovery = options.state.recovering ? startingRecovery() : undefined;
    this.seen = { epoch: options.state.epoch, commit: { epoch: 0, length: 0 } };
  }

  // ---- The driver's interface ----------------------------------------------------------------------

  /** Actions produced since the last call, in order. */
  takeActions(): Action[] {
    const actions = this.outbox;
    this.outbox = [];
    return actions;
  }

  /** A request from outside; its reply is a `reply` action with the same id. */
  request(id: number, request: Request): void {
    if (this.closed) return this.reply(id, fail(new BazaarError('SHUTTING_DOWN', `order replica ${this.id} is stopping`)));
    this.event(() => {
      switch (request.kind) {
        case 'place':
          return placeOrder(this, request.trade, request.origin, { kind: 'request', request: id });
        case 'notice':
          if (request.notice.leaderId === this.id) return standForElection(this, id, request.notice);
          return this.enqueue(new NoticeWork(this, id, request.notice));
        case 'poll':
          return this.enqueue(new PollWork(this, id, request.request));
        case 'append':
          return this.enqueue(new AppendWork(this, id, request.request));
      }
    }, id);
  }

  /** The outcome of action `op`. Unknown ops (a duplicate, or one from before a close) are ignored. */
  complete(op: number, outcome: Outcome<unknown>): void {
    const pending = this.pending.get(op);
    if (pending === undefined || this.closed) return;
    this.pending.delete(op);
    this.event(() => this.dispatch(pending, outcome));
  }

  /** One tick of time: retries, deadlines and the catalog's upkeep move on. */
  tick(): void {
    if (this.closed) return;
    this.event(() => {
      this.now += 1;
      if (this.recovery !== undefined) tickRecovery(this, this.recovery);
      tickElection(this);
      const leader = this.leading;
      if (leader !== undefined && !leader.stopped) tickLeader(this, leader);
    });
  }

  /** A returning replica asks to be brought up to date now rather than at the next retry. */
  rejoin(peer: number): void {
    if (this.closed) return;
    this.event(() => rejoin(this, peer));
  }

  /** Stops leading (waiters get 503) and stops acting; later completions are ignored. */
  close(): void {
    if (this.leading !== undefined) stepDown(this, this.leading);
    this.closed = true;
    this.pending.clear();
  }

  // ---- Queries (no state change) -------------------------------------------------------------------

  status(): ReplicaStatus {
    const serving = this.leading?.serving === true;
    return {
      id: this.id,
      replicationRole: this.recovery !== undefined ? 'recovering' : this.replicationRole,
      serving,
      epoch: this.state.epoch,
      leaderId: this.state.leaderId,
      logEpoch: this.state.logEpoch,
      lastNumber: this.log.length - 1,
      commitLength: serving ? this.leading!.commitLength : null,
      logBytes: this.log.sizeBytes,
      recovery: this.recovery === undefined ? null : recoveryStatus(this.recovery),
    };
  }

  /** Where this replica stands, for a peer that recovers from a lost disk (recovery.ts). */
  recoverReply(): RecoverReply {
    return recoverReply(this);
  }

  /** A durable, acknowledged order; only the serving leader answers. */
  order(number: number): OrderEntry | undefined {
    const leader = servingLeader(this);
    if (leader === undefined) throw notLeaderOf(this);
    return unwrapped(() => (number < leader.commitLength ? this.log.read(number) : undefined));
  }

  /** Durable entries from `from`, at most `limit`, for a new leader catching up. */
  entries(from: number, limit: number): OrderEntry[] {
    return unwrapped(() => this.log.readRange(from, from + Math.min(limit, REPLICATION_BATCH_ENTRIES_MAX)));
  }

  // ---- Plumbing for the parts (context.ts) --------------------------------------------------------

  io(action: IoAction, pending: Pending): void {
    const op = this.nextOp;
    this.nextOp += 1;
    this.pending.set(op, pending);
    this.outbox.push({ ...action, op } as Action);
  }

  reply(request: number, outcome: Outcome<unknown>): void {
    this.outbox.push({ kind: 'reply', request, outcome });
  }

  note(message: string): void {
    this.outbox.push({ kind: 'note', message });
  }

  enqueue(work: SerialWork): void {
    this.serialQueue.push(work);
  }

  finishSerial(work: SerialWork): void {
    assert.equal(this.serialWork, work, 'only the running serial work finishes');
    this.serialWork = undefined;
  }

  // ---- Events ----------------------------------------------------------------------------------------

  /**
   * Runs one event, then whatever serial work it let start, then checks the invariants. A read of the
   * log that failed during it stops the replica (`faulted`) instead of escaping as a throw.
   */
  private event(body: () => void, request?: number): void {
    try {
      body();
      this.runSerial();
    } catch (error) {
      if (!(error instanceof StorageFault)) throw error;
      return this.faulted(error.error, request);
    }
    checkInvariants(this, this.seen);
  }

  private dispatch(pending: Pending, outcome: Outcome<unknown>): void {
    switch (pending.kind) {
      case 'own-append':
        this.log.endAppend(1);
        return ownAppended(this, pending, outcome);
      case 'approve':
        return approvalCompleted(this, pending, outcome);
      case 'catalog-apply':
        return applyCompleted(this, pending, outcome);
      case 'replicate':
        return replicated(this, pending, outcome);
      case 'poll':
        return polled(this, pending.round, pending.peer, outcome);
      case 'recover':
        return recoverAnswered(this, pending.round, pending.peer, outcome);
      case 'rejoin':
        return;
      case 'serial':
        assert.equal(this.serialWork, pending.work, 'only the running serial work waits for I/O');
        if (pending.write?.kind === 'append') this.log.endAppend(pending.write.count);
        if (pending.write?.kind === 'truncate') this.log.endTruncate();
        return pending.work.resume(outcome);
    }
  }

  /** Starts queued serial work while none runs, and resumes the running one once the leader's own appends have settled. */
  private runSerial(): void {
    for (;;) {
      const work = this.serialWork;
      if (work === undefined) {
        const next = this.serialQueue.shift();
        if (next === undefined) return;
        this.serialWork = next;
        next.start();
        continue;
      }
      if (work.stage !== 'settling' || this.log.appending > 0) return;
      work.resume({ ok: true, value: undefined });
      assert.ok(this.serialWork !== work || work.stage !== 'settling', 'settled work moves on');
    }
  }

  /** The log could not be read: answer every request held with the error, stop, and tell the driver. */
  private faulted(error: Error, request: number | undefined): void {
    const failure = error instanceof BazaarError ? error : new BazaarError('STORAGE_FAILED', `order replica ${this.id} cannot read its log: ${error.message}`, { cause: error });
    this.outbox = this.outbox.filter((action) => action.kind === 'reply' || action.kind === 'note');
    this.note(`the order log cannot be read (${failure.message}); stopping`);
    const held = this.heldRequests();
    if (request !== undefined) held.add(request);
    for (const id of held) this.reply(id, fail(failure));
    this.closed = true;
    this.pending.clear();
    this.outbox.push({ kind: 'fault', error: failure });
  }

  /** Every request from outside that waits on this replica, wherever it waits. */
  private heldRequests(): Set<number> {
    const held = new Set<number>();
    const waiter = (item: { kind: string; request?: number }): void => {
      if (item.kind === 'request' && item.request !== undefined) held.add(item.request);
    };
    for (const flight of this.inFlight.values()) flight.waiters.forEach(waiter);
    for (const item of this.leading?.waiters ?? []) if (item.settle.kind === 'retry') waiter(item.settle.waiter);
    for (const request of this.election?.requests ?? []) held.add(request);
    for (const work of [this.serialWork, ...this.serialQueue]) if (work?.request !== undefined) held.add(work.request);
    return held;
  }
}

/** A query's read that failed throws the storage error itself, for the server's storage failure policy. */
function unwrapped<T>(read: () => T): T {
  try {
    return read();
  } catch (error) {
    throw error instanceof StorageFault ? error.error : error;
  }
}
