// Becoming leader: the frontend's notice names this replica for an epoch; it joins the epoch, polls
// every peer into it, adopts the most complete log among a majority (copying it from that peer if
// it is not its own), and serves once a majority holds that starting log (leader.ts).
//
// A majority is enough for safety (every acknowledged order is on a majority, and two majorities
// share a replica); the poll waits for every peer, but once a majority has joined at most
// ELECTION_POLL_GRACE_MS more, so a hung peer (SIGSTOP) cannot hold the election for its whole call
// timeout. Waiting a little for the rest only saves their unacknowledged entries.
import assert from 'node:assert/strict';
import { BazaarError } from '../../core/errors.ts';
import { ELECTION_POLL_GRACE_MS, REPLICATION_BATCH_ENTRIES_MAX } from '../../core/limits.ts';
import { type OrderEntry, sameEntry } from '../../core/trade.ts';
import type { LeaderNotice, PollReply } from '../../protocol/replication.ts';
import { fail, finishElection, persistState, type Replica, ticks } from './context.ts';
import { cutLog, joinEpoch, writeLog } from './follower.ts';
import { advanceCommit, beginLeading, pumpAll, stepDown } from './leader.ts';
import type { Outcome } from './messages.ts';
import type { PollRound, SerialWork } from './pending.ts';

type Joined = { readonly peer: number; readonly logEpoch: number; readonly length: number };

/**
 * The frontend's notice that this replica leads `notice.epoch`: run the election, and answer once it
 * serves. A repeated notice for the same epoch gets the same outcome.
 */
export function standForElection(replica: Replica, request: number, notice: LeaderNotice): void {
  if (replica.recovery !== undefined) {
    return replica.reply(request, fail(new BazaarError('RECOVERING', `order replica ${replica.id} is recovering from a lost or damaged disk and cannot lead until it holds the leader's log; choose another`)));
  }
  const election = replica.election;
  if (election?.epoch === notice.epoch) {
    if (election.outcome === undefined) election.requests.push(request);
    else replica.reply(request, election.outcome.ok ? { ok: true, value: replica.status() } : election.outcome);
    return;
  }
  // An election still running here for another epoch: an older notice is refused at once; an older
  // election is answered as overtaken, so its frontend follows the newer one instead of waiting out
  // its call (several frontends may choose at once).
  if (election !== undefined && election.outcome === undefined) {
    if (notice.epoch < election.epoch) return replica.reply(request, fail(new BazaarError('STALE_EPOCH', `replica ${replica.id} is standing for epoch ${election.epoch}; the notice for epoch ${notice.epoch} is stale`)));
    finishElection(replica, election.epoch, fail(new BazaarError('STALE_EPOCH', `the election for epoch ${election.epoch} was overtaken by epoch ${notice.epoch}`)));
  }
  replica.election = { epoch: notice.epoch, requests: [request], outcome: undefined, round: undefined };
  replica.enqueue(new LeadWork(replica, notice.epoch));
}

/** The election for `epoch` failed: stand down from it. */
function abandon(replica: Replica, epoch: number, error: Error): void {
  if (replica.state.epoch === epoch && replica.replicationRole === 'candidate') replica.replicationRole = 'follower';
  if (replica.leading?.epoch === epoch) stepDown(replica, replica.leading, error);
  finishElection(replica, epoch, fail(error));
}

/** Joins the epoch as its candidate, then polls the peers. */
class LeadWork implements SerialWork {
  readonly kind = 'lead';
  readonly request = undefined;
  stage: 'start' | 'joining' = 'start';

  constructor(
    private readonly replica: Replica,
    readonly epoch: number,
  ) {}

  start(): void {
    const { replica, epoch } = this;
    if (epoch <= replica.state.epoch) {
      replica.finishSerial(this);
      return abandon(replica, epoch, new BazaarError('STALE_EPOCH', `replica ${replica.id} is already in epoch ${replica.state.epoch}; a new leader needs a higher epoch than ${epoch}`));
    }
    this.stage = 'joining';
    joinEpoch(replica, epoch, replica.id, this);
    // A candidate from the moment it stands: a frontend that pings it now must tell it from a leader
    // of this epoch that restarted (a follower with itself as leader), and wait for its election.
    replica.replicationRole = 'candidate';
  }

  resume(outcome: Outcome<unknown>): void {
    const { replica, epoch } = this;
    replica.finishSerial(this);
    if (!outcome.ok) return abandon(replica, epoch, outcome.error);
    replica.note(`epoch ${epoch}: standing as leader, polling ${replica.peers.length} peers`);
    startPoll(replica, epoch);
  }
}

function startPoll(replica: Replica, epoch: number): void {
  const round: PollRound = { epoch, replies: [], tallied: false, graceAt: undefined };
  // The election record holds the newest round; the tick watches only its grace deadline.
  if (replica.election?.epoch === epoch) replica.election.round = round;
  if (replica.peers.length === 0) return tally(replica, round);
  for (const peer of replica.peers) replica.io({ kind: 'send', to: peer, message: { kind: 'poll', request: { epoch, candidateId: replica.id } } }, { kind: 'poll', round, peer });
}

function joinedOf(round: PollRound): Joined[] {
  const joined: Joined[] = [];
  for (const { peer, reply } of round.replies) if (reply?.ok === true && reply.epoch === round.epoch) joined.push({ peer, logEpoch: reply.logEpoch, length: reply.length });
  return joined;
}

export function polled(replica: Replica, round: PollRound, peer: number, outcome: Outcome<unknown>): void {
  if (round.tallied) return;
  round.replies.push({ peer, reply: outcome.ok ? (outcome.value as PollReply) : undefined });
  if (round.replies.length === replica.peers.length) return tally(replica, round);
  if (round.graceAt === undefined && joinedOf(round).length + 1 >= replica.majority) round.graceAt = replica.now + ticks(ELECTION_POLL_GRACE_MS);
}

/** A tick: the newest round tallies without the slow peers once its grace is over. */
export function tickElection(replica: Replica): void {
  const round = replica.election?.round;
  if (round !== undefined && !round.tallied && round.graceAt !== undefined && round.graceAt <= replica.now) tally(replica, round);
}

function tally(replica: Replica, round: PollRound): void {
  round.tallied = true;
  const { epoch } = round;
  const joined = joinedOf(round);
  const newer = round.replies.find((item) => item.reply !== undefined && item.reply.epoch > epoch);
  if (newer !== undefined || replica.state.epoch !== epoch) return abandon(replica, epoch, new BazaarError('STALE_EPOCH', `replica ${newer?.peer ?? replica.id} is in a newer epoch than ${epoch}`));
  if (joined.length + 1 < replica.majority) {
    return abandon(replica, epoch, new BazaarError('NO_QUORUM', `only ${joined.length + 1} of ${replica.peers.length + 1} replicas answered; a leader needs ${replica.majority}`));
  }
  replica.enqueue(new AdoptWork(replica, epoch, joined));
}

/** Takes the most complete log among a majority (it holds every acknowledged order), then starts the epoch's leadership. */
class AdoptWork implements SerialWork {
  readonly kind = 'adopt';
  readonly request = undefined;
  stage: 'start' | 'settling' | 'lookback' | 'fetch' | 'cut' | 'write' | 'final-cut' | 'persisting' = 'start';
  /** The log to adopt: whose, its log epoch and length. */
  best: Joined;
  /** Copying a peer's log: a number below which both logs are thought to agree, and how far to look back next. */
  common = 0;
  step = 1;
  /** The batch being copied: where it starts, the entries, how many of them this log holds already. */
  from = 0;
  batch: readonly OrderEntry[] = [];
  same = 0;

  constructor(
    private readonly replica: Replica,
    readonly epoch: number,
    readonly joined: readonly Joined[],
  ) {
    this.best = { peer: replica.id, logEpoch: replica.state.logEpoch, length: replica.log.length };
  }

  start(): void {
    if (this.replica.state.epoch !== this.epoch) return this.failed(new BazaarError('STALE_EPOCH', `epoch ${this.epoch} was overtaken during the election`));
    this.stage = 'settling';
  }

  resume(outcome: Outcome<unknown>): void {
    if (!outcome.ok) return this.failed(outcome.error);
    const { replica } = this;
    switch (this.stage) {
      case 'settling': {
        let best: Joined = { peer: replica.id, logEpoch: replica.state.logEpoch, length: replica.log.length };
        for (const candidate of this.joined) {
          if (candidate.logEpoch > best.logEpoch || (candidate.logEpoch === best.logEpoch && candidate.length > best.length)) best = candidate;
        }
        this.best = best;
        if (best.peer === replica.id) return this.begin();
        replica.note(`epoch ${this.epoch}: adopting the log of replica ${best.peer} (${best.length} orders, log epoch ${best.logEpoch})`);
        // Find a point where the two logs agree: look back from the shorter end, further each time.
        // It may lie well before where they part, so from there on entries are compared, not cut:
        // only the first one that differs cuts this log. What it shares with the peer's
        // (acknowledged orders included) is never dropped, not even for a moment.
        this.common = Math.min(replica.log.length, best.length);
        this.step = 1;
        return this.lookBack();
      }
      case 'lookback': {
        const theirs = (outcome.value as OrderEntry[])[0];
        if (theirs === undefined) return this.failed(new BazaarError('UPSTREAM_BAD_REPLY', `replica ${this.best.peer} no longer has order ${this.common - 1}`));
        if (sameEntry(theirs, replica.log.read(this.common - 1))) return this.fetch(this.common);
        this.common = Math.max(0, this.common - this.step);
        this.step *= 4;
        return this.lookBack();
      }
      case 'fetch': {
        const entries = outcome.value as OrderEntry[];
        if (entries.length === 0) return this.failed(new BazaarError('UPSTREAM_BAD_REPLY', `replica ${this.best.peer} sent no entries from ${this.from}`));
        this.batch = entries.slice(0, this.best.length - this.from);
        let same = 0;
        while (same < this.batch.length && sameEntry(replica.log.read(this.from + same), this.batch[same])) same += 1;
        this.same = same;
        if (same === this.batch.length) return this.fetch(this.from + this.batch.length);
        // Where the logs part (or where this one ends): cut there, then take the peer's entries.
        this.stage = 'cut';
        if (!cutLog(replica, this.from + same, this)) this.writeBatch();
        return;
      }
      case 'cut':
        return this.writeBatch();
      case 'write':
        return this.fetch(this.from + this.batch.length);
      case 'final-cut':
        return this.begin();
      case 'persisting':
        return this.serve();
      case 'start':
        assert.fail('adopt work resumed before it started');
    }
  }

  private lookBack(): void {
    if (this.common === 0) return this.fetch(0);
    this.stage = 'lookback';
    this.replica.io({ kind: 'send', to: this.best.peer, message: { kind: 'entries', from: this.common - 1, limit: 1 } }, { kind: 'serial', work: this });
  }

  private fetch(from: number): void {
    this.from = from;
    const { length, peer } = this.best;
    if (from >= length) {
      this.stage = 'final-cut';
      if (!cutLog(this.replica, length, this)) this.begin();
      return;
    }
    this.stage = 'fetch';
    this.replica.io({ kind: 'send', to: peer, message: { kind: 'entries', from, limit: Math.min(REPLICATION_BATCH_ENTRIES_MAX, length - from) } }, { kind: 'serial', work: this });
  }

  private writeBatch(): void {
    this.stage = 'write';
    writeLog(this.replica, this.batch.slice(this.same), this);
  }

  /** This log is the adopted one: raise its log epoch, durably, then lead. */
  private begin(): void {
    const { replica } = this;
    assert.equal(replica.log.length, this.best.length, 'the new leader holds exactly the adopted log');
    replica.state = { ...replica.state, logEpoch: this.epoch };
    this.stage = 'persisting';
    persistState(replica, this);
  }

  private serve(): void {
    const { replica } = this;
    if (replica.state.epoch !== this.epoch) return this.failed(new BazaarError('STALE_EPOCH', `epoch ${this.epoch} was overtaken during the election`));
    const leader = beginLeading(replica, this.epoch);
    replica.finishSerial(this);
    pumpAll(replica, leader);
    advanceCommit(replica, leader);
  }

  private failed(error: Error): void {
    this.replica.finishSerial(this);
    abandon(this.replica, this.epoch, error);
  }
}
