// The follower's side of the machine: joining an epoch, answering a candidate's poll, taking a
// leader's entries (keep the prefix shared with the leader, replace a conflicting suffix), and the
// frontend's notice of another replica's leadership. Each is serial work: a small state machine whose
// stage says which outcome it waits for.
import assert from 'node:assert/strict';
import { BazaarError } from '../../core/errors.ts';
import { type OrderEntry, sameEntry } from '../../core/trade.ts';
import type { AppendReply, AppendRequest, LeaderNotice, PollReply, PollRequest } from '../../protocol/replication.ts';
import { fail, persistState, type Replica } from './context.ts';
import { stepDown } from './leader.ts';
import type { Outcome } from './messages.ts';
import type { SerialWork } from './pending.ts';
import { askAgain, finishRecovery, recovered } from './recovery.ts';

/** Joins a newer epoch (stepping down if this replica led) and persists it; `work` resumes once it is durable. */
export function joinEpoch(replica: Replica, epoch: number, leaderId: number, work: SerialWork): void {
  assert.ok(epoch > replica.state.epoch, 'epochs only rise');
  if (replica.leading !== undefined) {
    replica.note(`epoch ${epoch} (leader ${leaderId}) replaces epoch ${replica.leading.epoch}: stepping down`);
    stepDown(replica, replica.leading);
  }
  if (replica.replicationRole === 'candidate') replica.replicationRole = 'follower';
  replica.matched = 0;
  replica.state = { ...replica.state, epoch, leaderId };
  persistState(replica, work);
}

/** Durably keeps only the first `length` entries; false (and nothing to wait for) when the log is no longer than that. */
export function cutLog(replica: Replica, length: number, work: SerialWork): boolean {
  if (length >= replica.log.length) return false;
  replica.log.beginTruncate();
  replica.io({ kind: 'truncate', length }, { kind: 'serial', work, write: { kind: 'truncate' } });
  return true;
}

/** Appends entries that continue the written log. */
export function writeLog(replica: Replica, entries: readonly OrderEntry[], work: SerialWork): void {
  replica.log.beginAppend(entries);
  replica.io({ kind: 'append', entries }, { kind: 'serial', work, write: { kind: 'append', count: entries.length } });
}

function recoveringError(replica: Replica): BazaarError {
  return new BazaarError('RECOVERING', `order replica ${replica.id} is recovering from a lost or damaged disk; it neither leads nor votes until it holds the leader's log`);
}

function staleNotice(replica: Replica, notice: LeaderNotice): BazaarError {
  return new BazaarError('STALE_EPOCH', `replica ${replica.id} is in epoch ${replica.state.epoch} led by ${replica.state.leaderId}; the notice for epoch ${notice.epoch} is stale`);
}

/** The frontend's notice that another replica leads `notice.epoch`: join it as a follower. */
export class NoticeWork implements SerialWork {
  readonly kind = 'notice';
  stage: 'start' | 'joining' = 'start';

  constructor(
    private readonly replica: Replica,
    readonly request: number,
    readonly notice: LeaderNotice,
  ) {}

  start(): void {
    const { replica, notice } = this;
    const { state } = replica;
    // A recovering replica learns the epoch from its peers (recovery.ts), not from a frontend.
    if (replica.recovery !== undefined) return this.finish(fail(recoveringError(replica)));
    if (notice.epoch < state.epoch || (notice.epoch === state.epoch && state.leaderId !== notice.leaderId)) return this.finish(fail(staleNotice(replica, notice)));
    if (notice.epoch === state.epoch) return this.finish({ ok: true, value: replica.status() });
    this.stage = 'joining';
    joinEpoch(replica, notice.epoch, notice.leaderId, this);
  }

  resume(outcome: Outcome<unknown>): void {
    this.finish(outcome.ok ? { ok: true, value: this.replica.status() } : outcome);
  }

  private finish(outcome: Outcome<unknown>): void {
    this.replica.reply(this.request, outcome);
    this.replica.finishSerial(this);
  }
}

/** A candidate asks this replica to join its epoch and report how complete its log is. */
export class PollWork implements SerialWork {
  readonly kind = 'poll';
  stage: 'start' | 'joining' | 'settling' = 'start';

  constructor(
    private readonly replica: Replica,
    readonly request: number,
    readonly poll: PollRequest,
  ) {}

  start(): void {
    const { replica, poll } = this;
    const { state } = replica;
    // A recovering replica takes part in no election: it may have forgotten a vote.
    if (replica.recovery !== undefined) return this.finish({ ok: true, value: { ok: false, epoch: state.epoch, recovering: true } });
    if (poll.epoch < state.epoch || (poll.epoch === state.epoch && state.leaderId !== poll.candidateId)) {
      return this.finish({ ok: true, value: { ok: false, epoch: state.epoch } });
    }
    if (poll.epoch === state.epoch) {
      this.stage = 'settling';
      return;
    }
    this.stage = 'joining';
    joinEpoch(replica, poll.epoch, poll.candidateId, this);
  }

  resume(outcome: Outcome<unknown>): void {
    if (!outcome.ok) return this.finish(outcome);
    if (this.stage === 'joining') {
      this.stage = 'settling';
      return;
    }
    const { state, log } = this.replica;
    this.finish({ ok: true, value: { ok: true, epoch: state.epoch, logEpoch: state.logEpoch, length: log.length } });
  }

  private finish(outcome: Outcome<PollReply>): void {
    this.replica.reply(this.request, outcome);
    this.replica.finishSerial(this);
  }
}

/** Entries from the leader: keep the prefix shared with the leader, replace any conflicting suffix. */
export class AppendWork implements SerialWork {
  readonly kind = 'append';
  stage: 'start' | 'joining' | 'settling' | 'cut' | 'write' | 'cut-end' | 'persisting' | 'recovered' = 'start';
  /** How many of the message's entries this log holds already, from `append.from`. */
  same = 0;
  /** This log equals the leader's below `end` once the work is done. */
  end = 0;

  constructor(
    private readonly replica: Replica,
    readonly request: number,
    readonly append: AppendRequest,
  ) {}

  start(): void {
    const { replica, append } = this;
    const recovery = replica.recovery;
    if (recovery !== undefined) {
      // Recovering: only the leader its peers named is followed; a newer epoch means asking again.
      if (recovery.phase === 'asking') return this.finish({ ok: true, value: { ok: false, reason: 'recovering' } });
      if (append.leaderId === recovery.leaderId && append.epoch === replica.state.epoch) recovery.heardAt = replica.now;
      if (append.epoch > replica.state.epoch) {
        askAgain(replica, `epoch ${append.epoch} replaced epoch ${replica.state.epoch}`);
        return this.finish({ ok: true, value: { ok: false, reason: 'recovering' } });
      }
    }
    if (append.epoch < replica.state.epoch) return this.stale();
    if (append.epoch > replica.state.epoch) {
      this.stage = 'joining';
      return joinEpoch(replica, append.epoch, append.leaderId, this);
    }
    if (replica.state.leaderId !== append.leaderId || append.leaderId === replica.id) return this.stale();
    this.stage = 'settling';
  }

  resume(outcome: Outcome<unknown>): void {
    if (!outcome.ok) return this.finish(outcome);
    switch (this.stage) {
      case 'joining':
        this.stage = 'settling';
        return;
      case 'settling':
        return this.accept();
      case 'cut':
        return this.writeRest();
      case 'write':
        return this.cutPastEnd();
      case 'cut-end':
        return this.raiseLogEpoch();
      case 'persisting':
        return this.done();
      case 'recovered':
        finishRecovery(this.replica);
        return this.reply();
      case 'start':
        assert.fail('append work resumed before it started');
    }
  }

  private accept(): void {
    const { replica, append } = this;
    const { log } = replica;
    if (append.from > log.length) return this.finish({ ok: true, value: { ok: false, reason: 'gap', length: log.length } });
    if (append.from > 0 && !sameEntry(log.read(append.from - 1), append.prev)) return this.finish({ ok: true, value: { ok: false, reason: 'mismatch' } });
    let same = 0;
    while (same < append.entries.length && sameEntry(log.read(append.from + same), append.entries[same])) same += 1;
    this.same = same;
    // Below `matched` this log is the leader's (an earlier reply said so): a late or repeated
    // message that ends before it must not cut what the leader already counts on.
    this.end = Math.max(append.from + append.entries.length, same === append.entries.length ? replica.matched : 0);
    if (same === append.entries.length) return this.cutPastEnd();
    assert.ok(append.from + same >= replica.matched, 'a leader\'s entries never conflict with what its epoch already matched');
    this.stage = 'cut';
    if (!cutLog(replica, append.from + same, this)) this.writeRest();
  }

  private writeRest(): void {
    this.stage = 'write';
    writeLog(this.replica, this.append.entries.slice(this.same), this);
  }

  /** Anything past `end` is not known to be in the leader's log: cut it. */
  private cutPastEnd(): void {
    this.stage = 'cut-end';
    if (!cutLog(this.replica, this.end, this)) this.raiseLogEpoch();
  }

  private raiseLogEpoch(): void {
    const { replica, append } = this;
    if (this.end >= append.startLength && replica.state.logEpoch < append.epoch) {
      replica.state = { ...replica.state, logEpoch: append.epoch };
      this.stage = 'persisting';
      return persistState(replica, this);
    }
    this.done();
  }

  private done(): void {
    const { replica } = this;
    replica.matched = this.end;
    if (recovered(replica, this.end)) {
      // It holds what it could have acknowledged: durably stop recovering before it counts.
      replica.state = { ...replica.state, recovering: false };
      this.stage = 'recovered';
      return persistState(replica, this);
    }
    this.reply();
  }

  private reply(): void {
    const recovering = this.replica.recovery !== undefined;
    this.finish({ ok: true, value: recovering ? { ok: true, length: this.end, recovering: true } : { ok: true, length: this.end } });
  }

  private stale(): void {
    this.finish({ ok: true, value: { ok: false, reason: 'stale', epoch: this.replica.state.epoch } });
  }

  private finish(outcome: Outcome<AppendReply>): void {
    this.replica.reply(this.request, outcome);
    this.replica.finishSerial(this);
  }
}
