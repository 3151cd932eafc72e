// The order replica's decisions, apart from HTTP and disk: elections with epochs, the write path
// (key check -> catalog -> own log -> every in-sync follower -> reply), and the follower side that
// keeps its log a prefix of the leader's. The log, the durable state, the catalog and the peers are
// ports, so the hard cases run as unit tests on an in-memory network.
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
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { BazaarError } from '../core/errors.ts';
import {
  COMMIT_TIMEOUT_MS,
  ELECTION_TIMEOUT_MS,
  RECONCILE_INTERVAL_MS,
  REPLICATION_BATCH_ENTRIES_MAX,
  REPLICATION_RETRY_MS,
} from '../core/limits.ts';
import { type KeyedTrade, type OrderEntry, quoteForMessage, sameTrade } from '../core/trade.ts';
import { type OrderLog, sameEntry } from './log.ts';
import type { AppendReply, AppendRequest, EntryRef, LeaderNotice, PeerTransport, PollReply, PollRequest } from './protocol.ts';
import type { ReplicaState, StateStore } from './state.ts';

/** What the replica needs from the catalog. */
export interface CatalogPort {
  /** Applies the trade once per key (a repeat is a no-op) and resolves once it is durable. */
  trade(trade: KeyedTrade): Promise<void>;
  /** The catalog's applied trades in journal order, from position `from`, at most `limit`. */
  trades(from: number, limit: number): Promise<KeyedTrade[]>;
}

export type Role = 'follower' | 'candidate' | 'leader';

export interface ReplicaStatus {
  readonly id: number;
  readonly role: Role;
  /** True when this replica is the leader and its starting log is on a majority. */
  readonly serving: boolean;
  readonly epoch: number;
  readonly leaderId: number | null;
  readonly logEpoch: number;
  /** Number of the last durable order, -1 when the log is empty. */
  readonly lastNumber: number;
  /** On the leader: orders below this number are on a majority and acknowledged. */
  readonly commitLength: number | null;
  readonly logBytes: number;
}

export interface ReplicaOptions {
  readonly id: number;
  /** Every other replica's id. */
  readonly peers: readonly number[];
  readonly log: OrderLog;
  readonly stateStore: StateStore;
  readonly state: ReplicaState;
  readonly catalog: CatalogPort;
  readonly transport: PeerTransport;
  readonly onEvent?: (message: string) => void;
}

function ref(entry: OrderEntry): EntryRef {
  return { number: entry.number, epoch: entry.epoch, key: entry.key };
}

function notLeader(id: number, leaderId: number | null): BazaarError {
  const hint = leaderId === null || leaderId === id ? 'no leader is known' : `replica ${leaderId} leads`;
  return new BazaarError('NOT_LEADER', `order replica ${id} is not the serving leader (${hint}); choose the leader again`);
}

interface CommitWaiter {
  readonly number: number;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
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
  /** How far back to look after a mismatch; grows fourfold each time. */
  backoff = 1;
  /** Called when a new entry is durable on the leader. */
  wake: () => void = () => {};
  /** Ends a retry pause early. */
  interrupt: () => void = () => {};

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
  commitLength = 0;
  serving = false;
  stopped = false;
  readonly waiters: CommitWaiter[] = [];

  constructor(epoch: number, startLength: number, links: FollowerLink[]) {
    this.epoch = epoch;
    this.startLength = startLength;
    this.links = links;
  }

  wakeAll(): void {
    for (const link of this.links) link.wake();
  }

  interruptAll(): void {
    for (const link of this.links) link.interrupt();
  }
}

export class OrderReplica {
  readonly id: number;
  private readonly peers: readonly number[];
  private readonly majority: number;
  private readonly log: OrderLog;
  private readonly stateStore: StateStore;
  private readonly catalog: CatalogPort;
  private readonly transport: PeerTransport;
  private readonly onEvent: (message: string) => void;
  private state: ReplicaState;
  private role: Role = 'follower';
  private term: LeaderTerm | undefined;
  /** The election in progress for this replica, by epoch, so a repeated notice waits for the same one. */
  private election: { epoch: number; done: Promise<void> } | undefined;
  /** Trades between their key check and their acknowledgement, by key. */
  private readonly inFlight = new Map<string, { trade: KeyedTrade; number: Promise<number> }>();
  /** Local appends of the leader still being written; a truncate waits for them. */
  private readonly localAppends = new Set<Promise<void>>();
  /** Serializes everything that changes the log or the state outside the leader's own appends. */
  private exclusiveTail: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(options: ReplicaOptions) {
    assert.ok(!options.peers.includes(options.id), 'a replica is not its own peer');
    this.id = options.id;
    this.peers = options.peers;
    this.majority = Math.floor((options.peers.length + 1) / 2) + 1;
    this.log = options.log;
    this.stateStore = options.stateStore;
    this.state = options.state;
    this.catalog = options.catalog;
    this.transport = options.transport;
    this.onEvent = options.onEvent ?? (() => {});
  }

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
    };
  }

  // ---- Leader: the write path -------------------------------------------------------------------

  /** Places an order once per idempotency key; resolves with its number once it is on a majority. */
  // Async, so that every refusal is a rejection; the body up to the first await still runs in the
  // caller's turn, so the in-flight check and insert cannot interleave with another call.
  async placeOrder(trade: KeyedTrade): Promise<number> {
    const term = this.servingTerm();
    const logged = this.log.numberForKey(trade.key);
    if (logged !== undefined) {
      this.assertSameTrade(this.log.entry(logged)!, trade);
      await this.committed(term, logged);
      return logged;
    }
    const pending = this.inFlight.get(trade.key);
    if (pending !== undefined) {
      this.assertSameTrade(pending.trade, trade);
      return pending.number;
    }
    const number = this.execute(term, trade).finally(() => this.inFlight.delete(trade.key));
    this.inFlight.set(trade.key, { trade, number });
    return number;
  }

  private async execute(term: LeaderTerm, trade: KeyedTrade): Promise<number> {
    await this.catalog.trade(trade);
    // The catalog applied the key; if this replica lost the lead meanwhile, the frontend retries on
    // the new leader with the same key, and the catalog will not apply it again.
    if (this.term !== term || term.stopped) throw notLeader(this.id, this.state.leaderId);
    // Taking the number and queueing the append happen in one synchronous step, so log order is
    // number order however the catalog calls interleave.
    const entry: OrderEntry = { number: this.log.nextNumber, epoch: term.epoch, key: trade.key, name: trade.name, type: trade.type, quantity: trade.quantity };
    const append = this.log.append([entry]);
    this.localAppends.add(append);
    try {
      await append;
    } finally {
      this.localAppends.delete(append);
    }
    this.advanceCommit(term);
    term.wakeAll();
    await this.committed(term, entry.number);
    return entry.number;
  }

  /** A durable, acknowledged order; only the serving leader answers. */
  order(number: number): OrderEntry | undefined {
    const term = this.servingTerm();
    return number < term.commitLength ? this.log.entry(number) : undefined;
  }

  private servingTerm(): LeaderTerm {
    const term = this.term;
    if (term === undefined || !term.serving || term.stopped) throw notLeader(this.id, this.state.leaderId);
    return term;
  }

  private assertSameTrade(previous: KeyedTrade, trade: KeyedTrade): void {
    if (!sameTrade(previous, trade)) {
      throw new BazaarError('IDEMPOTENCY_KEY_REUSED', `idempotency key ${quoteForMessage(trade.key)} was already used for a different order`);
    }
  }

  /** Resolves once entry `number` is acknowledged; 503 if no majority holds it in time. */
  private committed(term: LeaderTerm, number: number): Promise<void> {
    if (number < term.commitLength) return Promise.resolve();
    if (term.stopped) return Promise.reject(notLeader(this.id, this.state.leaderId));
    return new Promise<void>((resolve, reject) => {
      const waiter: CommitWaiter = {
        number,
        resolve,
        reject,
        timer: setTimeout(() => {
          term.waiters.splice(term.waiters.indexOf(waiter), 1);
          reject(new BazaarError('NO_QUORUM', `order ${number} did not reach a majority of replicas within ${COMMIT_TIMEOUT_MS} ms; retry with the same Idempotency-Key`));
        }, COMMIT_TIMEOUT_MS),
      };
      term.waiters.push(waiter);
    });
  }

  /**
   * Moves the commit point: an entry is acknowledged once it is durable here, on every in-sync
   * follower, and on a majority of replicas.
   */
  private advanceCommit(term: LeaderTerm): void {
    if (term.stopped) return;
    let live = this.log.length;
    for (const link of term.links) if (link.inSync) live = Math.min(live, link.matchLength);
    const lengths = [this.log.length, ...term.links.map((link) => link.matchLength)].sort((a, b) => b - a);
    const quorum = lengths[this.majority - 1]!;
    const commit = Math.min(live, quorum);
    if (commit <= term.commitLength) return;
    term.commitLength = commit;
    for (let index = term.waiters.length - 1; index >= 0; index -= 1) {
      const waiter = term.waiters[index]!;
      if (waiter.number < commit) {
        term.waiters.splice(index, 1);
        clearTimeout(waiter.timer);
        waiter.resolve();
      }
    }
  }

  // ---- Leader: keeping each follower's log equal to ours ------------------------------------------

  private async runLink(term: LeaderTerm, link: FollowerLink): Promise<void> {
    while (!term.stopped && !this.closed) {
      const end = Math.min(this.log.length, link.nextFrom + REPLICATION_BATCH_ENTRIES_MAX);
      if (link.inSync && link.nextFrom >= this.log.length) {
        // Nothing to send: sleep until a new entry is durable here (or the epoch ends).
        await new Promise<void>((resolve) => {
          link.wake = resolve;
        });
        continue;
      }
      const from = Math.min(link.nextFrom, this.log.length);
      const request: AppendRequest = {
        epoch: term.epoch,
        leaderId: this.id,
        startLength: term.startLength,
        from,
        prev: from === 0 ? null : ref(this.log.entry(from - 1)!),
        entries: this.log.slice(from, end),
      };
      let reply: AppendReply;
      try {
        reply = await this.transport.append(link.peer, request);
      } catch {
        // Down, hung or unreachable: stop waiting for it, and try again shortly.
        if (link.inSync) this.onEvent(`follower ${link.peer} is not answering; orders no longer wait for it`);
        link.inSync = false;
        this.advanceCommit(term);
        await this.pause(link);
        continue;
      }
      if (term.stopped) return;
      if (reply.ok) {
        link.matchLength = reply.length;
        link.nextFrom = reply.length;
        link.backoff = 1;
        if (!link.inSync && reply.length >= this.log.length) {
          link.inSync = true;
          this.onEvent(`follower ${link.peer} is in sync at ${reply.length} orders`);
        }
        this.advanceCommit(term);
      } else if (reply.reason === 'stale') {
        this.onEvent(`follower ${link.peer} is in epoch ${reply.epoch}; stepping down from epoch ${term.epoch}`);
        this.stepDown(term);
        return;
      } else {
        link.inSync = false;
        if (reply.reason === 'gap') {
          link.nextFrom = reply.length;
        } else {
          link.nextFrom = Math.max(0, from - link.backoff);
          link.backoff *= 4;
        }
        this.advanceCommit(term);
      }
    }
  }

  /** Waits before retrying a failed follower; new orders do not cut it short, a rejoin or step-down does. */
  private async pause(link: FollowerLink): Promise<void> {
    const timer = new AbortController();
    await Promise.race([
      sleep(REPLICATION_RETRY_MS, undefined, { signal: timer.signal }).catch(() => undefined),
      new Promise<void>((resolve) => {
        link.interrupt = resolve;
      }),
    ]);
    timer.abort();
  }

  /** A returning replica asks to be brought up to date now rather than at the next retry. */
  rejoin(peer: number): void {
    const link = this.term?.links.find((candidate) => candidate.peer === peer);
    if (link === undefined) return;
    link.inSync = false;
    link.nextFrom = this.log.length;
    link.backoff = 1;
    link.interrupt();
  }

  private stepDown(term: LeaderTerm): void {
    if (term.stopped) return;
    term.stopped = true;
    term.serving = false;
    if (this.term === term) {
      this.term = undefined;
      this.role = 'follower';
    }
    for (const waiter of term.waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(notLeader(this.id, this.state.leaderId));
    }
    term.wakeAll();
    term.interruptAll();
  }

  // ---- Elections ------------------------------------------------------------------------------------

  /**
   * The frontend's notice of who leads `epoch`. For this replica's own id it runs the election and
   * resolves once it serves; for another id it joins the epoch as a follower.
   */
  async handleLeaderNotice(notice: LeaderNotice): Promise<ReplicaStatus> {
    if (notice.leaderId === this.id) {
      if (this.election?.epoch === notice.epoch) {
        await this.election.done;
      } else {
        const done = this.lead(notice.epoch);
        this.election = { epoch: notice.epoch, done };
        await done;
      }
      return this.status();
    }
    return this.exclusive(async () => {
      if (notice.epoch < this.state.epoch || (notice.epoch === this.state.epoch && this.state.leaderId !== notice.leaderId)) {
        throw new BazaarError('STALE_EPOCH', `replica ${this.id} is in epoch ${this.state.epoch} led by ${this.state.leaderId}; the notice for epoch ${notice.epoch} is stale`);
      }
      if (notice.epoch > this.state.epoch) await this.joinEpoch(notice.epoch, notice.leaderId);
      return this.status();
    });
  }

  private async lead(epoch: number): Promise<void> {
    await this.exclusive(async () => {
      if (epoch <= this.state.epoch) {
        throw new BazaarError('STALE_EPOCH', `replica ${this.id} is already in epoch ${this.state.epoch}; a new leader needs a higher epoch than ${epoch}`);
      }
      await this.joinEpoch(epoch, this.id);
      this.role = 'candidate';
    });
    this.onEvent(`epoch ${epoch}: standing as leader, polling ${this.peers.length} peers`);

    const replies = await Promise.all(
      this.peers.map(async (peer) => {
        try {
          return { peer, reply: await this.transport.poll(peer, { epoch, candidateId: this.id }) };
        } catch {
          return { peer, reply: undefined };
        }
      }),
    );
    const joined = replies.filter((item): item is { peer: number; reply: Extract<PollReply, { ok: true }> } => item.reply?.ok === true && item.reply.epoch === epoch);
    const newer = replies.find((item) => item.reply !== undefined && item.reply.epoch > epoch);
    if (newer !== undefined || this.state.epoch !== epoch) {
      this.abandon(epoch);
      throw new BazaarError('STALE_EPOCH', `replica ${newer?.peer ?? this.id} is in a newer epoch than ${epoch}`);
    }
    if (joined.length + 1 < this.majority) {
      this.abandon(epoch);
      throw new BazaarError('NO_QUORUM', `only ${joined.length + 1} of ${this.peers.length + 1} replicas answered; a leader needs ${this.majority}`);
    }

    let term: LeaderTerm | undefined;
    await this.exclusive(async () => {
      if (this.state.epoch !== epoch) throw new BazaarError('STALE_EPOCH', `epoch ${epoch} was overtaken during the election`);
      await this.settleLocalAppends();
      // The most complete log among a majority holds every acknowledged order: adopt it.
      let best: { peer: number; logEpoch: number; length: number } = { peer: this.id, logEpoch: this.state.logEpoch, length: this.log.length };
      for (const { peer, reply } of joined) {
        if (reply.logEpoch > best.logEpoch || (reply.logEpoch === best.logEpoch && reply.length > best.length)) {
          best = { peer, logEpoch: reply.logEpoch, length: reply.length };
        }
      }
      if (best.peer !== this.id) {
        this.onEvent(`epoch ${epoch}: adopting the log of replica ${best.peer} (${best.length} orders, log epoch ${best.logEpoch})`);
        await this.syncFrom(best.peer, best.length);
      }
      assert.equal(this.log.length, best.length, 'the new leader holds exactly the adopted log');
      this.state = { ...this.state, logEpoch: epoch };
      await this.stateStore.save(this.state);
      term = new LeaderTerm(
        epoch,
        this.log.length,
        this.peers.map((peer) => new FollowerLink(peer, this.log.length)),
      );
      this.term = term;
      this.role = 'leader';
    }).catch((error: unknown) => {
      this.abandon(epoch);
      throw error;
    });
    const started = term!;
    for (const link of started.links) void this.runLink(started, link);
    this.advanceCommit(started);

    // Serve only once a majority holds the whole starting log: from then on everything in it is
    // acknowledged, including orders whose clients will retry their keys here.
    const deadline = Date.now() + ELECTION_TIMEOUT_MS;
    while (started.commitLength < started.startLength) {
      if (started.stopped) throw notLeader(this.id, this.state.leaderId);
      if (Date.now() > deadline) {
        this.stepDown(started);
        throw new BazaarError('NO_QUORUM', `epoch ${epoch}: a majority did not take the starting log within ${ELECTION_TIMEOUT_MS} ms`);
      }
      await sleep(1);
    }
    started.serving = true;
    this.onEvent(`epoch ${epoch}: leading with ${started.startLength} orders`);
    void this.reconcile(started);
  }

  /**
   * While this term lasts: every trade the catalog applied must be an order in the log. One that is
   * not (its leader and its frontend died between the catalog trade and the commit, and nobody
   * retried) is placed now under its key; the catalog does not apply it again, so G4 holds after
   * any sequence of crashes. Keys in flight here are left to the request that carries them.
   *
   * Each pass starts where the checked prefix ends: the trades before it all have committed orders
   * (durable in the state, so a later term starts there too, and a long history is not read again
   * at every election). A trade whose order is in flight or not yet committed ends the prefix; the
   * next pass looks at it again.
   */
  private async reconcile(term: LeaderTerm): Promise<void> {
    while (!term.stopped && !this.closed) {
      try {
        let checked = this.state.reconciled;
        let cursor = checked;
        for (;;) {
          const trades = await this.catalog.trades(cursor, REPLICATION_BATCH_ENTRIES_MAX);
          if (term.stopped) return;
          for (const trade of trades) {
            let number = this.log.numberForKey(trade.key);
            if (number === undefined && !this.inFlight.has(trade.key)) {
              number = await this.placeOrder(trade);
              this.onEvent(`reconciled: the catalog had applied ${trade.key} with no order logged; it is order ${number}`);
            }
            if (checked === cursor && number !== undefined && number < term.commitLength) checked += 1;
            cursor += 1;
          }
          if (trades.length < REPLICATION_BATCH_ENTRIES_MAX) break;
        }
        if (checked > this.state.reconciled && !term.stopped) {
          this.state = { ...this.state, reconciled: checked };
          await this.stateStore.save(this.state);
        }
      } catch (error) {
        if (term.stopped) return;
        this.onEvent(`reconciliation with the catalog paused: ${(error as Error).message}`);
      }
      await sleep(RECONCILE_INTERVAL_MS, undefined, { ref: false });
    }
  }

  private abandon(epoch: number): void {
    if (this.state.epoch === epoch && this.role === 'candidate') this.role = 'follower';
    if (this.term?.epoch === epoch) this.stepDown(this.term);
  }

  /** Makes this replica's log equal to a peer's, which holds `length` entries. */
  private async syncFrom(peer: number, length: number): Promise<void> {
    // Find the longest common prefix: look back from the shorter end, further each time.
    let common = Math.min(this.log.length, length);
    let step = 1;
    while (common > 0) {
      const [theirs] = await this.transport.entries(peer, common - 1, 1);
      if (theirs === undefined) throw new BazaarError('UPSTREAM_BAD_REPLY', `replica ${peer} no longer has order ${common - 1}`);
      if (sameEntry(theirs, this.log.entry(common - 1))) break;
      common = Math.max(0, common - step);
      step *= 4;
    }
    await this.log.truncate(common);
    while (this.log.length < length) {
      const batch = await this.transport.entries(peer, this.log.length, Math.min(REPLICATION_BATCH_ENTRIES_MAX, length - this.log.length));
      if (batch.length === 0) throw new BazaarError('UPSTREAM_BAD_REPLY', `replica ${peer} sent no entries from ${this.log.length}`);
      await this.log.append(batch);
    }
  }

  // ---- Follower side ------------------------------------------------------------------------------

  /** A candidate asks this replica to join its epoch and report how complete its log is. */
  handlePoll(request: PollRequest): Promise<PollReply> {
    return this.exclusive(async () => {
      if (request.epoch < this.state.epoch || (request.epoch === this.state.epoch && this.state.leaderId !== request.candidateId)) {
        return { ok: false, epoch: this.state.epoch };
      }
      if (request.epoch > this.state.epoch) await this.joinEpoch(request.epoch, request.candidateId);
      await this.settleLocalAppends();
      return { ok: true, epoch: this.state.epoch, logEpoch: this.state.logEpoch, length: this.log.length };
    });
  }

  /** Entries from the leader: keep the prefix shared with the leader, replace any conflicting suffix. */
  handleAppend(request: AppendRequest): Promise<AppendReply> {
    return this.exclusive(async () => {
      if (request.epoch < this.state.epoch) return { ok: false, reason: 'stale', epoch: this.state.epoch };
      if (request.epoch > this.state.epoch) {
        await this.joinEpoch(request.epoch, request.leaderId);
      } else if (this.state.leaderId !== request.leaderId || request.leaderId === this.id) {
        return { ok: false, reason: 'stale', epoch: this.state.epoch };
      }
      await this.settleLocalAppends();
      if (request.from > this.log.length) return { ok: false, reason: 'gap', length: this.log.length };
      if (request.from > 0 && !sameEntry(this.log.entry(request.from - 1), request.prev)) return { ok: false, reason: 'mismatch' };

      let same = 0;
      while (same < request.entries.length && sameEntry(this.log.entry(request.from + same), request.entries[same])) same += 1;
      const end = request.from + request.entries.length;
      if (same < request.entries.length) {
        await this.log.truncate(request.from + same);
        await this.log.append(request.entries.slice(same));
      }
      // Anything past what the leader sent is not known to be in the leader's log: cut it.
      await this.log.truncate(end);
      if (end >= request.startLength && this.state.logEpoch < request.epoch) {
        this.state = { ...this.state, logEpoch: request.epoch };
        await this.stateStore.save(this.state);
      }
      return { ok: true, length: end };
    });
  }

  /** Durable entries from `from`, at most `limit`, for a new leader catching up. */
  entries(from: number, limit: number): OrderEntry[] {
    return this.log.slice(from, from + Math.min(limit, REPLICATION_BATCH_ENTRIES_MAX));
  }

  private async joinEpoch(epoch: number, leaderId: number): Promise<void> {
    assert.ok(epoch > this.state.epoch, 'epochs only rise');
    if (this.term !== undefined) {
      this.onEvent(`epoch ${epoch} (leader ${leaderId}) replaces epoch ${this.term.epoch}: stepping down`);
      this.stepDown(this.term);
    }
    if (this.role === 'candidate') this.role = 'follower';
    this.state = { ...this.state, epoch, leaderId };
    await this.stateStore.save(this.state);
  }

  private async settleLocalAppends(): Promise<void> {
    while (this.localAppends.size > 0) await Promise.allSettled([...this.localAppends]);
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.exclusiveTail.then(work, work);
    this.exclusiveTail = run.catch(() => undefined);
    return run;
  }

  /** Stops leading (waiters get 503) and stops every replication loop. */
  close(): void {
    this.closed = true;
    if (this.term !== undefined) this.stepDown(this.term);
  }
}
