// The order replica's replication logic as a synchronous state machine: events in (a request, a
// storage or network completion, a tick), actions out (persist the state, append, truncate, send,
// call the catalog, reply). No await, no timer, no clock: time passes only through `tick()`, and
// every piece of I/O is an action the driver (node.ts) carries out and completes with `complete()`.
// The simulator (test/unit/simulator.test.ts) drives this same class on an in-memory network.
//
// The rules that make the lab's scheme correct under crashes at any instruction:
// - An order is acknowledged once it is durable on the leader, on every follower the leader counts as
//   in sync, and on a majority of all replicas. A follower that is behind or unreachable is not
//   waited for (it catches up in the background) but a majority is never given up.
// - A new leader joins its epoch on a majority first (they then refuse every older leader), adopts
//   the most complete log among them (highest logEpoch, then longest), and serves only once a
//   majority holds that starting log. Every acknowledged order is on a majority, so it is in the log
//   any later leader adopts, and no acknowledged entry is ever cut.
// - A follower sets logEpoch to the leader's epoch only once it holds the leader's whole starting
//   log; a replica half-way through catching up can never win an election over one that is complete.
// - Work that changes the log or the state outside the leader's own appends runs one at a time
//   (`serial`), and only once the leader's own appends have settled.
import assert from 'node:assert/strict';
import { BazaarError } from '../core/errors.ts';
import { COMMIT_TIMEOUT_MS, ELECTION_POLL_GRACE_MS, ELECTION_TIMEOUT_MS, RECONCILE_INTERVAL_MS, REPLICA_TICK_MS, REPLICATION_BATCH_ENTRIES_MAX, REPLICATION_RETRY_MS } from '../core/limits.ts';
import { type KeyedTrade, type OrderEntry, quoteForMessage, sameEntry, sameTrade } from '../core/trade.ts';
import type { ReplicaStatus, Role } from '../protocol/health.ts';
import type { AppendReply, AppendRequest, EntryRef, LeaderNotice, PollReply, PollRequest } from '../protocol/replication.ts';
import type { ReadLog } from '../storage/log.ts';
import { type ReconcileHost, Reconciler } from './reconcile.ts';
import type { ReplicaState } from './state.ts';

/**
 * `assert.ok` for the invariants checked after every event: the same AssertionError when one breaks,
 * without the argument handling that made `assert.ok` a visible cost on the trade path's profile.
 */
function invariant(holds: boolean, message: string): void {
  if (!holds) throw new assert.AssertionError({ message, actual: false, expected: true, operator: '==' });
}

export type { ReplicaStatus, Role } from '../protocol/health.ts';

/** How a piece of I/O or a request ended. */
export type Outcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: Error };

/** Requests from outside: the frontend (place, notice) and the other replicas (poll, append). */
export type Request =
  | { readonly kind: 'place'; readonly trade: KeyedTrade; readonly origin?: string }
  | { readonly kind: 'notice'; readonly notice: LeaderNotice }
  | { readonly kind: 'poll'; readonly request: PollRequest }
  | { readonly kind: 'append'; readonly request: AppendRequest };

/** A placed order: its number, and its stock's version after the trade (for the frontend's cache). */
export interface Placed {
  readonly number: number;
  readonly version: number;
}

/** What the catalog answers a trade with: the stock's version after it. */
export interface Traded {
  readonly version: number;
}

/** What the reply to each kind of request carries. */
export interface ReplyValue {
  place: Placed;
  notice: ReplicaStatus;
  poll: PollReply;
  append: AppendReply;
}

/** A message to another replica; its reply (or failure) completes the action. */
export type PeerMessage =
  | { readonly kind: 'poll'; readonly request: PollRequest }
  | { readonly kind: 'append'; readonly request: AppendRequest }
  | { readonly kind: 'entries'; readonly from: number; readonly limit: number };

export type CatalogCall =
  | { readonly kind: 'trade'; readonly trade: KeyedTrade; readonly origin: string | undefined }
  | { readonly kind: 'trades'; readonly from: number; readonly limit: number };

/** Work for the driver. Each with an `op` must be completed once, with its outcome, unless the replica crashes first. */
export type Action =
  | { readonly kind: 'persist'; readonly op: number; readonly state: ReplicaState }
  | { readonly kind: 'append'; readonly op: number; readonly entries: readonly OrderEntry[] }
  | { readonly kind: 'truncate'; readonly op: number; readonly length: number }
  | { readonly kind: 'send'; readonly op: number; readonly to: number; readonly message: PeerMessage }
  | { readonly kind: 'catalog'; readonly op: number; readonly call: CatalogCall }
  | { readonly kind: 'reply'; readonly request: number; readonly outcome: Outcome<unknown> }
  | { readonly kind: 'note'; readonly message: string };

/** An action with I/O, before the core numbers it. */
type Unnumbered<A> = A extends { readonly op: number } ? Omit<A, 'op'> : never;

export interface CoreOptions {
  readonly id: number;
  /** Every other replica's id. */
  readonly peers: readonly number[];
  /** The log as it is on disk; the core changes it only through actions. */
  readonly log: ReadLog<OrderEntry>;
  /** The state as it was last made durable. */
  readonly state: ReplicaState;
  /** Entries per replication message (the simulator makes it small to exercise batching). */
  readonly batchEntries?: number;
}

/** Milliseconds as whole ticks, at least one. */
export function ticks(ms: number): number {
  return Math.max(1, Math.ceil(ms / REPLICA_TICK_MS));
}

function ref(entry: OrderEntry): EntryRef {
  return { number: entry.number, epoch: entry.epoch, key: entry.key };
}

function notLeader(id: number, leaderId: number | null): BazaarError {
  const hint = leaderId === null || leaderId === id ? 'no leader is known' : `replica ${leaderId} leads`;
  return new BazaarError('NOT_LEADER', `order replica ${id} is not the serving leader (${hint}); choose the leader again`);
}

const fail = (error: Error): Outcome<never> => ({ ok: false, error });

interface CommitWaiter {
  readonly number: number;
  readonly deadline: number;
  readonly done: (outcome: Outcome<void>) => void;
}

/** What the leader knows of one follower during its epoch. */
class FollowerLink {
  readonly peer: number;
  /** The follower's log equals ours below this number (as far as the leader has heard). */
  matchLength = 0;
  /** Where the next message starts. */
  nextFrom: number;
  /** Counted as live: every new entry waits for it. Set when it has all we had; cleared on any failure. */
  inSync = false;
  /** How far back to look after a mismatch; grows fourfold each time, up to a message's worth of entries. */
  backoff = 1;
  /** A message to it is on its way. */
  sending = false;
  /** After a failure: the tick at which to try again. */
  retryAt: number | undefined;

  constructor(peer: number, nextFrom: number) {
    this.peer = peer;
    this.nextFrom = nextFrom;
  }
}

/** The leader's state for one epoch; dropped whole when it steps down. */
class LeaderTerm {
  readonly epoch: number;
  readonly startLength: number;
  readonly links: FollowerLink[];
  /** The tick by which a majority must hold the starting log. */
  readonly serveBy: number;
  commitLength = 0;
  serving = false;
  stopped = false;
  readonly waiters: CommitWaiter[] = [];
  reconciler: Reconciler | undefined;

  constructor(epoch: number, startLength: number, links: FollowerLink[], serveBy: number) {
    this.epoch = epoch;
    this.startLength = startLength;
    this.links = links;
    this.serveBy = serveBy;
  }
}

/** An election this replica runs (by epoch), so a repeated notice gets the same outcome. */
interface Election {
  readonly epoch: number;
  readonly requests: number[];
  outcome: Outcome<void> | undefined;
}

/** A trade between its key check and its acknowledgement. */
interface Flight {
  readonly trade: KeyedTrade;
  readonly waiters: Array<(outcome: Outcome<Placed>) => void>;
}

export class ReplicaCore {
  readonly id: number;
  private readonly peers: readonly number[];
  private readonly majority: number;
  private readonly log: ReadLog<OrderEntry>;
  private readonly batchEntries: number;
  private state: ReplicaState;
  private role: Role = 'follower';
  private term: LeaderTerm | undefined;
  private election: Election | undefined;
  private readonly inFlight = new Map<string, Flight>();
  /** Appends handed to the driver and not completed; the number the next appended entry carries. */
  private appending = 0;
  /** A candidate's poll that a majority has answered: tallied at this tick if the rest have not answered by then. */
  private pollDeadline: { readonly at: number; readonly tally: () => void } | undefined;
  /** Orders this process placed for catalog trades that had none (reconciliation), since it started. */
  private reconciledOrders = 0;
  private truncating = false;
  /**
   * Follower: this log equals the current epoch's leader's below this length, as this replica has
   * told the leader. Reset with each new epoch. After a restart, a log whose logEpoch is the current
   * epoch is all the leader's (it was cut to the leader's when the log epoch was raised, and only
   * the leader's entries were written since).
   */
  private matched: number;
  private nextNumber: number;
  /**
   * Entries handed to the log whose writes have not completed, oldest first: numbers
   * [nextNumber - queued.length, nextNumber). Writes complete in call order, so everything before
   * them is durable. (The log may report some of them durable before their completion arrives.)
   */
  private readonly queued: OrderEntry[] = [];
  private readonly settled: Array<() => void> = [];
  private readonly serialQueue: Array<(done: () => void) => void> = [];
  private serialBusy = false;
  private now = 0;
  private nextOp = 1;
  private readonly ops = new Map<number, (outcome: Outcome<unknown>) => void>();
  private outbox: Action[] = [];
  private closed = false;
  /** For the invariants: the highest epoch and commit point seen. */
  private lastEpoch: number;
  private lastCommit = { epoch: 0, length: 0 };

  constructor(options: CoreOptions) {
    assert.ok(!options.peers.includes(options.id), 'a replica is not its own peer');
    this.id = options.id;
    this.peers = options.peers;
    this.majority = Math.floor((options.peers.length + 1) / 2) + 1;
    this.log = options.log;
    this.state = options.state;
    this.batchEntries = options.batchEntries ?? REPLICATION_BATCH_ENTRIES_MAX;
    this.nextNumber = options.log.length;
    this.matched = options.state.logEpoch === options.state.epoch ? options.log.length : 0;
    this.lastEpoch = options.state.epoch;
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
    switch (request.kind) {
      case 'place':
        this.placeOrder(request.trade, request.origin, (outcome) => this.reply(id, outcome));
        break;
      case 'notice':
        this.handleNotice(id, request.notice);
        break;
      case 'poll':
        this.handlePoll(id, request.request);
        break;
      case 'append':
        this.handleAppend(id, request.request);
        break;
    }
    this.checkInvariants();
  }

  /** The outcome of action `op`. Unknown ops (a duplicate, or one from before a close) are ignored. */
  complete(op: number, outcome: Outcome<unknown>): void {
    const continuation = this.ops.get(op);
    if (continuation === undefined || this.closed) return;
    this.ops.delete(op);
    continuation(outcome);
    this.checkInvariants();
  }

  /** One tick of time: retries, deadlines and reconciliation move on. */
  tick(): void {
    if (this.closed) return;
    this.now += 1;
    if (this.pollDeadline !== undefined && this.pollDeadline.at <= this.now) this.pollDeadline.tally();
    const term = this.term;
    if (term !== undefined && !term.stopped) {
      for (let index = term.waiters.length - 1; index >= 0; index -= 1) {
        const waiter = term.waiters[index]!;
        if (waiter.deadline <= this.now) {
          term.waiters.splice(index, 1);
          waiter.done(fail(new BazaarError('NO_QUORUM', `order ${waiter.number} did not reach a majority of replicas within ${COMMIT_TIMEOUT_MS} ms; retry with the same Idempotency-Key`)));
        }
      }
      if (!term.serving && this.now > term.serveBy) {
        this.stepDown(term, new BazaarError('NO_QUORUM', `epoch ${term.epoch}: a majority did not take the starting log within ${ELECTION_TIMEOUT_MS} ms`));
      }
      for (const link of term.links) {
        if (link.retryAt !== undefined && link.retryAt <= this.now) {
          link.retryAt = undefined;
          this.pump(term, link);
        }
      }
      term.reconciler?.tick(this.now);
    }
    this.checkInvariants();
  }

  /** A returning replica asks to be brought up to date now rather than at the next retry. */
  rejoin(peer: number): void {
    const link = this.term?.links.find((candidate) => candidate.peer === peer);
    if (link === undefined || this.term === undefined) return;
    link.inSync = false;
    link.nextFrom = this.log.length;
    link.backoff = 1;
    link.retryAt = undefined;
    this.pump(this.term, link);
    this.checkInvariants();
  }

  /** Stops leading (waiters get 503) and stops acting; later completions are ignored. */
  close(): void {
    if (this.term !== undefined) this.stepDown(this.term);
    this.closed = true;
    this.ops.clear();
  }

  // ---- Queries (no state change) -------------------------------------------------------------------

  status(): ReplicaStatus {
    return {
      id: this.id,
      role: this.role,
      serving: this.term?.serving === true,
      epoch: this.state.epoch,
      leaderId: this.state.leaderId,
      logEpoch: this.state.logEpoch,
      lastNumber: this.log.length - 1,
      commitLength: this.term?.serving === true ? this.term.commitLength : null,
      logBytes: this.log.sizeBytes,
      reconciledOrders: this.reconciledOrders,
    };
  }

  /** A durable, acknowledged order; only the serving leader answers. */
  order(number: number): OrderEntry | undefined {
    const term = this.servingTerm();
    if (term === undefined) throw notLeader(this.id, this.state.leaderId);
    return number < term.commitLength ? this.log.read(number) : undefined;
  }

  /** Durable entries from `from`, at most `limit`, for a new leader catching up. */
  entries(from: number, limit: number): OrderEntry[] {
    return this.log.readRange(from, from + Math.min(limit, REPLICATION_BATCH_ENTRIES_MAX));
  }

  // ---- Plumbing ------------------------------------------------------------------------------------

  private io<T>(action: Unnumbered<Action>, then: (outcome: Outcome<T>) => void): void {
    const op = this.nextOp;
    this.nextOp += 1;
    this.ops.set(op, then as (outcome: Outcome<unknown>) => void);
    this.outbox.push({ ...action, op } as Action);
  }

  private reply(request: number, outcome: Outcome<unknown>): void {
    this.outbox.push({ kind: 'reply', request, outcome });
  }

  private note(message: string): void {
    this.outbox.push({ kind: 'note', message });
  }

  private persist(then: (error?: Error) => void): void {
    this.io<void>({ kind: 'persist', state: this.state }, (outcome) => then(outcome.ok ? undefined : outcome.error));
  }

  /** Appends entries that continue the log (durable and queued). */
  private write(entries: readonly OrderEntry[], then: (error?: Error) => void): void {
    for (const [offset, entry] of entries.entries()) assert.equal(entry.number, this.nextNumber + offset, 'log numbers are contiguous');
    this.nextNumber += entries.length;
    this.queued.push(...entries);
    this.appending += 1;
    this.io<void>({ kind: 'append', entries }, (outcome) => {
      this.queued.splice(0, entries.length);
      this.appending -= 1;
      if (this.appending === 0) this.nextNumber = this.log.length;
      then(outcome.ok ? undefined : outcome.error);
      while (this.appending === 0 && this.settled.length > 0) this.settled.shift()!();
    });
  }

  /** An entry of the log as written so far: durable, or handed to the log and not completed yet. */
  private written(number: number): OrderEntry | undefined {
    const firstQueued = this.nextNumber - this.queued.length;
    return number < firstQueued ? this.log.read(number) : this.queued[number - firstQueued];
  }

  /** Written entries with numbers in [from, to). */
  private writtenRange(from: number, to: number): OrderEntry[] {
    const firstQueued = this.nextNumber - this.queued.length;
    return [...this.log.readRange(from, Math.min(to, firstQueued)), ...this.queued.slice(Math.max(from, firstQueued) - firstQueued, Math.max(0, to - firstQueued))];
  }

  /** Durably keeps only the first `length` entries; only while no append is in progress. */
  private cut(length: number, then: (error?: Error) => void): void {
    assert.equal(this.appending, 0, 'no append is in progress during a truncate');
    if (length >= this.log.length) return then();
    this.truncating = true;
    this.io<void>({ kind: 'truncate', length }, (outcome) => {
      this.truncating = false;
      this.nextNumber = this.log.length;
      then(outcome.ok ? undefined : outcome.error);
    });
  }

  /** Runs `then` once none of the leader's own appends is in progress. */
  private afterAppends(then: () => void): void {
    if (this.appending === 0) then();
    else this.settled.push(then);
  }

  /** Runs work that changes the log or the state one at a time, in arrival order. */
  private serial(work: (done: () => void) => void): void {
    this.serialQueue.push(work);
    this.runSerial();
  }

  private runSerial(): void {
    while (!this.serialBusy && this.serialQueue.length > 0) {
      const work = this.serialQueue.shift()!;
      this.serialBusy = true;
      let finished = false;
      let synchronous = true;
      work(() => {
        assert.equal(finished, false, 'serial work finishes once');
        finished = true;
        this.serialBusy = false;
        if (!synchronous) this.runSerial();
      });
      synchronous = false;
    }
  }

  // ---- Leader: the write path ----------------------------------------------------------------------

  /**
   * Places an order once per idempotency key; `done` gets its number, and the stock's version the
   * catalog answered with, once it is on a majority. `origin` is the frontend the trade came through.
   */
  private placeOrder(trade: KeyedTrade, origin: string | undefined, done: (outcome: Outcome<Placed>) => void): void {
    const term = this.servingTerm();
    if (term === undefined) return done(fail(notLeader(this.id, this.state.leaderId)));
    const logged = this.log.find(trade.key);
    if (logged !== undefined) {
      if (!this.sameTradeOr(this.log.read(logged)!, trade, done)) return;
      // A retry of a logged order. Its frontend must still learn the stock's version before it
      // answers: ask the catalog again (it applies a key once, and answers with the version).
      this.io<Traded>({ kind: 'catalog', call: { kind: 'trade', trade, origin } }, (traded) => {
        if (!traded.ok) return done(traded);
        this.whenCommitted(term, logged, (outcome) => done(outcome.ok ? { ok: true, value: { number: logged, version: traded.value.version } } : outcome));
      });
      return;
    }
    const pending = this.inFlight.get(trade.key);
    if (pending !== undefined) {
      if (this.sameTradeOr(pending.trade, trade, done)) pending.waiters.push(done);
      return;
    }
    const flight: Flight = { trade, waiters: [done] };
    this.inFlight.set(trade.key, flight);
    const finish = (outcome: Outcome<Placed>): void => {
      if (this.inFlight.get(trade.key) === flight) this.inFlight.delete(trade.key);
      for (const waiter of flight.waiters) waiter(outcome);
    };
    this.io<Traded>({ kind: 'catalog', call: { kind: 'trade', trade, origin } }, (traded) => {
      if (!traded.ok) return finish(traded);
      // The catalog applied the key; if this replica lost the lead meanwhile, the frontend retries on
      // the new leader with the same key, and the catalog will not apply it again.
      if (this.term !== term || term.stopped) return finish(fail(notLeader(this.id, this.state.leaderId)));
      // Taking the number and queueing the append happen in one step, so log order is number order
      // however the catalog calls interleave.
      const entry: OrderEntry = { number: this.nextNumber, epoch: term.epoch, key: trade.key, name: trade.name, type: trade.type, quantity: trade.quantity };
      this.write([entry], (error) => {
        if (error !== undefined) {
          // Followers may hold entries this log could not take: this epoch cannot go on.
          this.stepDown(term);
          return finish(fail(error));
        }
        this.advanceCommit(term);
        this.whenCommitted(term, entry.number, (outcome) => finish(outcome.ok ? { ok: true, value: { number: entry.number, version: traded.value.version } } : outcome));
      });
      // The followers' appends run alongside the leader's own: the entry is acknowledged only once it
      // is durable here and on a majority either way, so one fsync stage leaves the serial path.
      this.pumpAll(term);
    });
  }

  private servingTerm(): LeaderTerm | undefined {
    const term = this.term;
    return term === undefined || !term.serving || term.stopped ? undefined : term;
  }

  private sameTradeOr(previous: KeyedTrade, trade: KeyedTrade, done: (outcome: Outcome<never>) => void): boolean {
    if (sameTrade(previous, trade)) return true;
    done(fail(new BazaarError('IDEMPOTENCY_KEY_REUSED', `idempotency key ${quoteForMessage(trade.key)} was already used for a different order`)));
    return false;
  }

  /** `done` once entry `number` is acknowledged; NO_QUORUM if no majority holds it in time. */
  private whenCommitted(term: LeaderTerm, number: number, done: (outcome: Outcome<void>) => void): void {
    if (number < term.commitLength) return done({ ok: true, value: undefined });
    if (term.stopped) return done(fail(notLeader(this.id, this.state.leaderId)));
    term.waiters.push({ number, deadline: this.now + ticks(COMMIT_TIMEOUT_MS), done });
  }

  /**
   * Moves the commit point: an entry is acknowledged once it is durable here, on every in-sync
   * follower, and on a majority of replicas. Followers may hold entries not yet durable here;
   * `live` starts at this log's durable length, so the commit point never passes it.
   */
  private advanceCommit(term: LeaderTerm): void {
    if (term.stopped) return;
    let live = this.log.length;
    for (const link of term.links) if (link.inSync) live = Math.min(live, link.matchLength);
    const lengths = [this.log.length, ...term.links.map((link) => link.matchLength)].sort((a, b) => b - a);
    const quorum = lengths[this.majority - 1]!;
    const commit = Math.min(live, quorum);
    if (commit > term.commitLength) {
      term.commitLength = commit;
      for (let index = term.waiters.length - 1; index >= 0; index -= 1) {
        const waiter = term.waiters[index]!;
        if (waiter.number < commit) {
          term.waiters.splice(index, 1);
          waiter.done({ ok: true, value: undefined });
        }
      }
    }
    // Serve only once a majority holds the whole starting log: from then on everything in it is
    // acknowledged, including orders whose clients will retry their keys here.
    if (!term.serving && term.commitLength >= term.startLength && this.term === term) this.startServing(term);
  }

  // ---- Leader: keeping each follower's log equal to ours -------------------------------------------

  private pumpAll(term: LeaderTerm): void {
    for (const link of term.links) this.pump(term, link);
  }

  /** Sends the follower what it lacks, unless a message is on its way or it waits for a retry. */
  private pump(term: LeaderTerm, link: FollowerLink): void {
    if (term.stopped || link.sending || link.retryAt !== undefined) return;
    if (link.inSync && link.nextFrom >= this.nextNumber) return;
    const from = Math.min(link.nextFrom, this.nextNumber);
    const end = Math.min(this.nextNumber, from + this.batchEntries);
    const request: AppendRequest = {
      epoch: term.epoch,
      leaderId: this.id,
      startLength: term.startLength,
      from,
      prev: from === 0 ? null : ref(this.written(from - 1)!),
      entries: this.writtenRange(from, end),
    };
    link.sending = true;
    this.io<AppendReply>({ kind: 'send', to: link.peer, message: { kind: 'append', request } }, (outcome) => {
      link.sending = false;
      if (term.stopped) return;
      if (!outcome.ok) {
        // Down, hung or unreachable: stop waiting for it, and try again shortly.
        if (link.inSync) this.note(`follower ${link.peer} is not answering; orders no longer wait for it`);
        link.inSync = false;
        link.retryAt = this.now + ticks(REPLICATION_RETRY_MS);
        this.advanceCommit(term);
        return;
      }
      const reply = outcome.value;
      if (reply.ok) {
        link.matchLength = reply.length;
        link.nextFrom = reply.length;
        link.backoff = 1;
        if (!link.inSync && reply.length >= this.log.length) {
          link.inSync = true;
          this.note(`follower ${link.peer} is in sync at ${reply.length} orders`);
        }
      } else if (reply.reason === 'stale') {
        this.note(`follower ${link.peer} is in epoch ${reply.epoch}; stepping down from epoch ${term.epoch}`);
        this.stepDown(term);
        return;
      } else {
        link.inSync = false;
        if (reply.reason === 'gap') {
          link.nextFrom = reply.length;
        } else {
          // Look back further each time, but never by more than a message holds: the next message
          // then reaches past `from`, where the logs are known to part. A message that ended short
          // of it would have the follower cut entries it shares with us (`handleAppend` cuts past a
          // message's end), acknowledged ones included.
          link.nextFrom = Math.max(0, from - link.backoff);
          link.backoff = Math.min(link.backoff * 4, this.batchEntries);
        }
      }
      this.advanceCommit(term);
      this.pump(term, link);
    });
  }

  private stepDown(term: LeaderTerm, why?: Error): void {
    if (term.stopped) return;
    term.stopped = true;
    term.serving = false;
    if (this.term === term) {
      this.term = undefined;
      this.role = 'follower';
    }
    for (const waiter of term.waiters.splice(0)) waiter.done(fail(notLeader(this.id, this.state.leaderId)));
    this.finishElection(term.epoch, fail(why ?? notLeader(this.id, this.state.leaderId)));
  }

  // ---- Elections -----------------------------------------------------------------------------------

  /**
   * The frontend's notice of who leads `epoch`. For this replica's own id it runs the election and
   * replies once it serves; for another id it joins the epoch as a follower.
   */
  private handleNotice(request: number, notice: LeaderNotice): void {
    if (notice.leaderId === this.id) {
      const election = this.election;
      if (election?.epoch === notice.epoch) {
        if (election.outcome === undefined) election.requests.push(request);
        else this.reply(request, election.outcome.ok ? { ok: true, value: this.status() } : election.outcome);
        return;
      }
      // An election still running here for another epoch: an older notice is refused at once; an
      // older election is answered as overtaken, so its frontend follows the newer one instead of
      // waiting out its call (several frontends may choose at once).
      if (election !== undefined && election.outcome === undefined) {
        if (notice.epoch < election.epoch) return this.reply(request, fail(new BazaarError('STALE_EPOCH', `replica ${this.id} is standing for epoch ${election.epoch}; the notice for epoch ${notice.epoch} is stale`)));
        this.finishElection(election.epoch, fail(new BazaarError('STALE_EPOCH', `the election for epoch ${election.epoch} was overtaken by epoch ${notice.epoch}`)));
      }
      this.election = { epoch: notice.epoch, requests: [request], outcome: undefined };
      this.lead(notice.epoch);
      return;
    }
    this.serial((done) => {
      const finish = (outcome: Outcome<unknown>): void => {
        this.reply(request, outcome);
        done();
      };
      if (notice.epoch < this.state.epoch || (notice.epoch === this.state.epoch && this.state.leaderId !== notice.leaderId)) {
        return finish(fail(new BazaarError('STALE_EPOCH', `replica ${this.id} is in epoch ${this.state.epoch} led by ${this.state.leaderId}; the notice for epoch ${notice.epoch} is stale`)));
      }
      if (notice.epoch === this.state.epoch) return finish({ ok: true, value: this.status() });
      this.joinEpoch(notice.epoch, notice.leaderId, (error) => finish(error === undefined ? { ok: true, value: this.status() } : fail(error)));
    });
  }

  private finishElection(epoch: number, outcome: Outcome<void>): void {
    const election = this.election;
    if (election?.epoch !== epoch || election.outcome !== undefined) return;
    election.outcome = outcome;
    for (const request of election.requests.splice(0)) this.reply(request, outcome.ok ? { ok: true, value: this.status() } : outcome);
  }

  private lead(epoch: number): void {
    const abandon = (error: Error): void => {
      if (this.state.epoch === epoch && this.role === 'candidate') this.role = 'follower';
      if (this.term?.epoch === epoch) this.stepDown(this.term, error);
      this.finishElection(epoch, fail(error));
    };
    this.serial((done) => {
      if (epoch <= this.state.epoch) {
        done();
        return abandon(new BazaarError('STALE_EPOCH', `replica ${this.id} is already in epoch ${this.state.epoch}; a new leader needs a higher epoch than ${epoch}`));
      }
      this.joinEpoch(epoch, this.id, (error) => {
        done();
        if (error !== undefined) return abandon(error);
        this.role = 'candidate';
        this.note(`epoch ${epoch}: standing as leader, polling ${this.peers.length} peers`);
        this.poll(epoch, abandon);
      });
    });
  }

  /**
   * Polls every peer into `epoch`, then adopts the most complete log among those that joined. It
   * waits for every peer to answer, but once a majority has joined, at most ELECTION_POLL_GRACE_MS
   * more: a hung peer (SIGSTOP) must not hold the election for its whole call timeout. A majority is
   * enough for safety (every acknowledged order is on a majority, and two majorities share a
   * replica); waiting a little longer for the rest only saves their unacknowledged entries.
   */
  private poll(epoch: number, abandon: (error: Error) => void): void {
    const replies: Array<{ peer: number; reply: PollReply | undefined }> = [];
    let tallied = false;
    let graceStarted = false;
    // A newer election replaces an older one's wait: that one ends when its replies are in, as stale.
    this.pollDeadline = undefined;
    const joinedCount = (): number => replies.filter((item) => item.reply?.ok === true && item.reply.epoch === epoch).length;
    const tallyOnce = (): void => {
      if (tallied) return;
      tallied = true;
      if (this.pollDeadline?.tally === tallyOnce) this.pollDeadline = undefined;
      tally();
    };
    const tally = (): void => {
      const joined = replies.filter((item): item is { peer: number; reply: Extract<PollReply, { ok: true }> } => item.reply?.ok === true && item.reply.epoch === epoch);
      const newer = replies.find((item) => item.reply !== undefined && item.reply.epoch > epoch);
      if (newer !== undefined || this.state.epoch !== epoch) return abandon(new BazaarError('STALE_EPOCH', `replica ${newer?.peer ?? this.id} is in a newer epoch than ${epoch}`));
      if (joined.length + 1 < this.majority) {
        return abandon(new BazaarError('NO_QUORUM', `only ${joined.length + 1} of ${this.peers.length + 1} replicas answered; a leader needs ${this.majority}`));
      }
      this.adopt(epoch, joined, abandon);
    };
    if (this.peers.length === 0) return tallyOnce();
    for (const peer of this.peers) {
      this.io<PollReply>({ kind: 'send', to: peer, message: { kind: 'poll', request: { epoch, candidateId: this.id } } }, (outcome) => {
        if (tallied) return;
        replies.push({ peer, reply: outcome.ok ? outcome.value : undefined });
        if (replies.length === this.peers.length) return tallyOnce();
        if (!graceStarted && joinedCount() + 1 >= this.majority) {
          graceStarted = true;
          this.pollDeadline = { at: this.now + ticks(ELECTION_POLL_GRACE_MS), tally: tallyOnce };
        }
      });
    }
  }

  /** Takes the most complete log among a majority (it holds every acknowledged order), then starts the term. */
  private adopt(epoch: number, joined: ReadonlyArray<{ peer: number; reply: { logEpoch: number; length: number } }>, abandon: (error: Error) => void): void {
    this.serial((done) => {
      const failed = (error: Error): void => {
        done();
        abandon(error);
      };
      if (this.state.epoch !== epoch) return failed(new BazaarError('STALE_EPOCH', `epoch ${epoch} was overtaken during the election`));
      this.afterAppends(() => {
        let best = { peer: this.id, logEpoch: this.state.logEpoch, length: this.log.length };
        for (const { peer, reply } of joined) {
          if (reply.logEpoch > best.logEpoch || (reply.logEpoch === best.logEpoch && reply.length > best.length)) best = { peer, logEpoch: reply.logEpoch, length: reply.length };
        }
        const start = (): void => {
          assert.equal(this.log.length, best.length, 'the new leader holds exactly the adopted log');
          this.state = { ...this.state, logEpoch: epoch };
          this.persist((error) => {
            if (error !== undefined) return failed(error);
            if (this.state.epoch !== epoch) return failed(new BazaarError('STALE_EPOCH', `epoch ${epoch} was overtaken during the election`));
            const term = new LeaderTerm(
              epoch,
              this.log.length,
              this.peers.map((peer) => new FollowerLink(peer, this.log.length)),
              this.now + ticks(ELECTION_TIMEOUT_MS),
            );
            this.term = term;
            this.role = 'leader';
            done();
            this.pumpAll(term);
            this.advanceCommit(term);
          });
        };
        if (best.peer === this.id) return start();
        this.note(`epoch ${epoch}: adopting the log of replica ${best.peer} (${best.length} orders, log epoch ${best.logEpoch})`);
        this.syncFrom(best.peer, best.length, (error) => (error === undefined ? start() : failed(error)));
      });
    });
  }

  private startServing(term: LeaderTerm): void {
    term.serving = true;
    this.note(`epoch ${term.epoch}: leading with ${term.startLength} orders`);
    this.finishElection(term.epoch, { ok: true, value: undefined });
    term.reconciler = new Reconciler(this.reconcileHost(term), ticks(RECONCILE_INTERVAL_MS));
    term.reconciler.start(this.now);
  }

  /** Makes this replica's log equal to a peer's, which holds `length` entries. */
  private syncFrom(peer: number, length: number, done: (error?: Error) => void): void {
    // Find a point where the two logs agree: look back from the shorter end, further each time. It
    // may lie well before where they part, so from there on entries are compared, not cut: only the
    // first one that differs cuts this log. What it shares with the peer's (acknowledged orders
    // included) is never dropped, not even for the moment before it would be fetched again.
    let common = Math.min(this.log.length, length);
    let step = 1;
    const fetch = (from: number): void => {
      if (from >= length) return this.cut(length, done);
      this.io<OrderEntry[]>({ kind: 'send', to: peer, message: { kind: 'entries', from, limit: Math.min(REPLICATION_BATCH_ENTRIES_MAX, length - from) } }, (outcome) => {
        if (!outcome.ok) return done(outcome.error);
        if (outcome.value.length === 0) return done(new BazaarError('UPSTREAM_BAD_REPLY', `replica ${peer} sent no entries from ${from}`));
        const batch = outcome.value.slice(0, length - from);
        let same = 0;
        while (same < batch.length && sameEntry(this.log.read(from + same), batch[same])) same += 1;
        const next = from + batch.length;
        if (same === batch.length) return fetch(next);
        // Where the logs part (or where this one ends): cut there, then take the peer's entries.
        this.cut(from + same, (error) => {
          if (error !== undefined) return done(error);
          this.write(batch.slice(same), (written) => (written === undefined ? fetch(next) : done(written)));
        });
      });
    };
    const lookBack = (): void => {
      if (common === 0) return fetch(0);
      this.io<OrderEntry[]>({ kind: 'send', to: peer, message: { kind: 'entries', from: common - 1, limit: 1 } }, (outcome) => {
        if (!outcome.ok) return done(outcome.error);
        const theirs = outcome.value[0];
        if (theirs === undefined) return done(new BazaarError('UPSTREAM_BAD_REPLY', `replica ${peer} no longer has order ${common - 1}`));
        if (sameEntry(theirs, this.log.read(common - 1))) return fetch(common);
        common = Math.max(0, common - step);
        step *= 4;
        lookBack();
      });
    };
    lookBack();
  }


  private reconcileHost(term: LeaderTerm): ReconcileHost {
    return {
      active: () => !term.stopped && !this.closed,
      reconciled: () => this.state.reconciled,
      commitLength: () => term.commitLength,
      numberForKey: (key) => this.log.find(key),
      inFlight: (key) => this.inFlight.has(key),
      place: (trade, done) =>
        this.placeOrder(trade, undefined, (outcome) => {
          if (outcome.ok) this.reconciledOrders += 1;
          done(outcome.ok ? { ok: true, value: outcome.value.number } : outcome);
        }),
      readTrades: (from, limit, done) => this.io<KeyedTrade[]>({ kind: 'catalog', call: { kind: 'trades', from, limit } }, done),
      saveReconciled: (checked, done) => {
        this.state = { ...this.state, reconciled: checked };
        this.persist(done);
      },
      note: (message) => this.note(message),
    };
  }

  // ---- Follower side -------------------------------------------------------------------------------

  /** A candidate asks this replica to join its epoch and report how complete its log is. */
  private handlePoll(request: number, poll: PollRequest): void {
    this.serial((done) => {
      const finish = (outcome: Outcome<PollReply>): void => {
        this.reply(request, outcome);
        done();
      };
      if (poll.epoch < this.state.epoch || (poll.epoch === this.state.epoch && this.state.leaderId !== poll.candidateId)) {
        return finish({ ok: true, value: { ok: false, epoch: this.state.epoch } });
      }
      const answer = (): void =>
        this.afterAppends(() => finish({ ok: true, value: { ok: true, epoch: this.state.epoch, logEpoch: this.state.logEpoch, length: this.log.length } }));
      if (poll.epoch === this.state.epoch) return answer();
      this.joinEpoch(poll.epoch, poll.candidateId, (error) => (error === undefined ? answer() : finish(fail(error))));
    });
  }

  /** Entries from the leader: keep the prefix shared with the leader, replace any conflicting suffix. */
  private handleAppend(request: number, append: AppendRequest): void {
    this.serial((done) => {
      const finish = (outcome: Outcome<AppendReply>): void => {
        this.reply(request, outcome);
        done();
      };
      const failed = (error: Error | undefined): boolean => {
        if (error !== undefined) finish(fail(error));
        return error !== undefined;
      };
      const stale = (): void => finish({ ok: true, value: { ok: false, reason: 'stale', epoch: this.state.epoch } });
      const accept = (): void =>
        this.afterAppends(() => {
          if (append.from > this.log.length) return finish({ ok: true, value: { ok: false, reason: 'gap', length: this.log.length } });
          if (append.from > 0 && !sameEntry(this.log.read(append.from - 1), append.prev)) return finish({ ok: true, value: { ok: false, reason: 'mismatch' } });
          let same = 0;
          while (same < append.entries.length && sameEntry(this.log.read(append.from + same), append.entries[same])) same += 1;
          // Below `matched` this log is the leader's (an earlier reply said so): a late or repeated
          // message that ends before it must not cut what the leader already counts on.
          const end = Math.max(append.from + append.entries.length, same === append.entries.length ? this.matched : 0);
          const reply = (): void => {
            this.matched = end;
            finish({ ok: true, value: { ok: true, length: end } });
          };
          const raiseLogEpoch = (): void => {
            if (end >= append.startLength && this.state.logEpoch < append.epoch) {
              this.state = { ...this.state, logEpoch: append.epoch };
              this.persist((error) => failed(error) || reply());
            } else {
              reply();
            }
          };
          // Anything past that is not known to be in the leader's log: cut it.
          const cutPastEnd = (): void => this.cut(end, (error) => failed(error) || raiseLogEpoch());
          if (same === append.entries.length) return cutPastEnd();
          assert.ok(append.from + same >= this.matched, 'a leader\'s entries never conflict with what its epoch already matched');
          this.cut(append.from + same, (error) => failed(error) || this.write(append.entries.slice(same), (written) => failed(written) || cutPastEnd()));
        });
      if (append.epoch < this.state.epoch) return stale();
      if (append.epoch > this.state.epoch) return this.joinEpoch(append.epoch, append.leaderId, (error) => failed(error) || accept());
      if (this.state.leaderId !== append.leaderId || append.leaderId === this.id) return stale();
      accept();
    });
  }

  private joinEpoch(epoch: number, leaderId: number, then: (error?: Error) => void): void {
    assert.ok(epoch > this.state.epoch, 'epochs only rise');
    if (this.term !== undefined) {
      this.note(`epoch ${epoch} (leader ${leaderId}) replaces epoch ${this.term.epoch}: stepping down`);
      this.stepDown(this.term);
    }
    if (this.role === 'candidate') this.role = 'follower';
    this.matched = 0;
    this.state = { ...this.state, epoch, leaderId };
    this.persist(then);
  }

  // ---- Invariants, checked after every event -------------------------------------------------------

  private checkInvariants(): void {
    const length = this.log.length;
    invariant(this.state.epoch >= this.lastEpoch, 'the epoch only rises');
    this.lastEpoch = this.state.epoch;
    invariant(this.state.logEpoch <= this.state.epoch, 'the log epoch is never ahead of the epoch');
    if (!this.truncating) {
      invariant(this.nextNumber >= length, 'queued appends continue the durable log');
      invariant(this.appending > 0 || this.nextNumber === length, 'with no append queued, the next number is the length');
      invariant(this.nextNumber - this.queued.length <= length, 'every entry before the queued ones is durable');
    }
    const term = this.term;
    if (term === undefined) return;
    invariant(this.role === 'leader', 'a replica with a term is the leader');
    invariant(term.epoch === this.state.epoch, 'the term is of the current epoch');
    invariant(term.commitLength <= length, 'the commit point never passes the log');
    for (const link of term.links) invariant(link.matchLength <= this.nextNumber, 'a follower never matches past the leader\'s log');
    if (this.lastCommit.epoch === term.epoch) invariant(term.commitLength >= this.lastCommit.length, 'the commit point only rises');
    this.lastCommit = { epoch: term.epoch, length: term.commitLength };
    if (term.serving) invariant(term.commitLength >= term.startLength, 'a serving leader has its starting log on a majority');
  }
}
