// The leader's side of the machine: the write path (a trade's approval, its own append, the commit),
// keeping each follower's log equal to its own, and stepping down. The catalog's part is catalog.ts. Each function runs on an
// event; what it waits for is a `Pending` record, resumed by the matching function here.
import { BazaarError } from '../../core/errors.ts';
import { COMMIT_TIMEOUT_MS, ELECTION_TIMEOUT_MS, REPLICATION_RETRY_MS } from '../../core/limits.ts';
import { type KeyedTrade, type OrderEntry, quoteForMessage, sameTrade } from '../../core/trade.ts';
import type { AppendReply, AppendRequest } from '../../protocol/replication.ts';
import { entryRef, fail, finishElection, notLeaderOf, type Replica, ticks } from './context.ts';
import { committedLength } from './majority.ts';
import { type ApprovalHost, applyAnswered, approvalAnswered, askApproval, pumpCatalog } from './catalog.ts';
import type { Outcome, Placed } from './messages.ts';
import type { Pending } from './pending.ts';
import { type Flight, FollowerProgress, LeaderEpoch, type Settle, type Waiter } from './progress.ts';

type PendingOf<K extends Pending['kind']> = Extract<Pending, { kind: K }>;

/** The leader's epoch, if it serves. */
export function servingLeader(replica: Replica): LeaderEpoch | undefined {
  const leader = replica.leading;
  return leader === undefined || !leader.serving || leader.stopped ? undefined : leader;
}

/** A new epoch's leadership, starting from this replica's log as it is now. */
export function beginLeading(replica: Replica, epoch: number): LeaderEpoch {
  const length = replica.log.length;
  const leader = new LeaderEpoch(epoch, length, replica.peers.map((peer) => new FollowerProgress(peer, length)), replica.now + ticks(ELECTION_TIMEOUT_MS));
  replica.leading = leader;
  replica.replicationRole = 'leader';
  return leader;
}

// ---- The write path ----------------------------------------------------------------------------

/**
 * Places an order once per idempotency key; the waiter gets its number, and the stock's version after
 * it (number + 1), once it is on a majority. `origin` is the frontend the trade came through.
 */
export function placeOrder(replica: Replica, trade: KeyedTrade, origin: string | undefined, waiter: Waiter): void {
  const leader = servingLeader(replica);
  if (leader === undefined) return answer(replica, waiter, fail(notLeaderOf(replica)));
  const logged = replica.log.find(trade.key);
  if (logged !== undefined) {
    // A retry of a logged order: the same answer once it is acknowledged, the catalog not asked again.
    if (sameTradeOr(replica, replica.log.read(logged)!, trade, waiter)) whenCommitted(replica, leader, logged, { kind: 'retry', waiter });
    return;
  }
  const pending = replica.inFlight.get(trade.key);
  if (pending !== undefined) {
    if (sameTradeOr(replica, pending.trade, trade, waiter)) pending.waiters.push(waiter);
    return;
  }
  const flight: Flight = { trade, origin, waiters: [waiter], asks: 0 };
  replica.inFlight.set(trade.key, flight);
  askApproval(replica, leader, flight);
}

/** The catalog's answer to an approval. */
export function approvalCompleted(replica: Replica, pending: PendingOf<'approve'>, outcome: Outcome<unknown>): void {
  approvalAnswered(replica, pending, outcome, writePath);
}

/** The catalog's answer to committed entries. */
export function applyCompleted(replica: Replica, pending: PendingOf<'catalog-apply'>, outcome: Outcome<unknown>): void {
  applyAnswered(replica, pending, outcome, writePath);
}

const writePath: ApprovalHost = {
  approved: logApproved,
  refused: (replica, flight, outcome) => finishFlight(replica, flight, outcome),
  stepDown,
};

/** An approved trade becomes the next entry of the log. */
function logApproved(replica: Replica, leader: LeaderEpoch, flight: Flight): void {
  // Taking the number and queueing the append happen in one step, so log order is number order
  // however the approvals interleave.
  const { trade } = flight;
  const entry: OrderEntry = { number: replica.log.nextNumber, epoch: leader.epoch, key: trade.key, name: trade.name, type: trade.type, quantity: trade.quantity };
  replica.log.beginAppend([entry]);
  replica.io({ kind: 'append', entries: [entry] }, { kind: 'own-append', leader, flight, number: entry.number });
  // The followers' appends run alongside the leader's own: the entry is acknowledged only once it
  // is durable here and on a majority either way, so one fsync stage leaves the serial path.
  pumpAll(replica, leader);
}

/** The leader's own append completed (the written log has already settled it). */
export function ownAppended(replica: Replica, { leader, flight, number }: PendingOf<'own-append'>, outcome: Outcome<unknown>): void {
  if (!outcome.ok) {
    // Followers may hold entries this log could not take: this epoch cannot go on.
    stepDown(replica, leader);
    return finishFlight(replica, flight, outcome);
  }
  advanceCommit(replica, leader);
  whenCommitted(replica, leader, number, { kind: 'flight', flight });
}

function sameTradeOr(replica: Replica, previous: KeyedTrade, trade: KeyedTrade, waiter: Waiter): boolean {
  if (sameTrade(previous, trade)) return true;
  answer(replica, waiter, fail(new BazaarError('IDEMPOTENCY_KEY_REUSED', `idempotency key ${quoteForMessage(trade.key)} was already used for a different order`)));
  return false;
}

/** Settles once entry `number` is acknowledged; NO_QUORUM if no majority holds it in time. */
function whenCommitted(replica: Replica, leader: LeaderEpoch, number: number, settle: Settle): void {
  if (number < leader.commitLength) return settled(replica, settle, number, { ok: true, value: undefined });
  if (leader.stopped) return settled(replica, settle, number, fail(notLeaderOf(replica)));
  leader.waiters.push({ number, deadline: replica.now + ticks(COMMIT_TIMEOUT_MS), settle });
}

function settled(replica: Replica, settle: Settle, number: number, outcome: Outcome<void>): void {
  // A stock's version is one more than the number of the last committed order on it (catalog/state.ts).
  const placed: Outcome<Placed> = outcome.ok ? { ok: true, value: { number, version: number + 1 } } : outcome;
  if (settle.kind === 'flight') finishFlight(replica, settle.flight, placed);
  else answer(replica, settle.waiter, placed);
}

function finishFlight(replica: Replica, flight: Flight, outcome: Outcome<Placed>): void {
  if (replica.inFlight.get(flight.trade.key) === flight) replica.inFlight.delete(flight.trade.key);
  for (const waiter of flight.waiters) answer(replica, waiter, outcome);
}

function answer(replica: Replica, waiter: Waiter, outcome: Outcome<Placed>): void {
  replica.reply(waiter.request, outcome);
}

/** Moves the commit point, settles what waited for it, and starts serving once a majority holds the starting log. */
export function advanceCommit(replica: Replica, leader: LeaderEpoch): void {
  if (leader.stopped) return;
  const commit = committedLength(replica.log.length, leader.followers, replica.majority);
  if (commit > leader.commitLength) {
    leader.commitLength = commit;
    for (let index = leader.waiters.length - 1; index >= 0; index -= 1) {
      const waiter = leader.waiters[index]!;
      if (waiter.number < commit) {
        leader.waiters.splice(index, 1);
        settled(replica, waiter.settle, waiter.number, { ok: true, value: undefined });
      }
    }
    pumpCatalog(replica, leader);
  }
  // Serve only once a majority holds the whole starting log: from then on everything in it is
  // acknowledged, including orders whose clients will retry their keys here.
  if (!leader.serving && leader.commitLength >= leader.startLength && replica.leading === leader) startServing(replica, leader);
}

function startServing(replica: Replica, leader: LeaderEpoch): void {
  leader.serving = true;
  replica.note(`epoch ${leader.epoch}: leading with ${leader.startLength} orders`);
  finishElection(replica, leader.epoch, { ok: true, value: undefined });
  pumpCatalog(replica, leader);
}

/** A tick: commit deadlines, the deadline to serve, follower retries, the catalog. */
export function tickLeader(replica: Replica, leader: LeaderEpoch): void {
  for (let index = leader.waiters.length - 1; index >= 0; index -= 1) {
    const waiter = leader.waiters[index]!;
    if (waiter.deadline <= replica.now) {
      leader.waiters.splice(index, 1);
      settled(replica, waiter.settle, waiter.number, fail(new BazaarError('NO_QUORUM', `order ${waiter.number} did not reach a majority of replicas within ${COMMIT_TIMEOUT_MS} ms; retry with the same Idempotency-Key`)));
    }
  }
  if (!leader.serving && replica.now > leader.serveBy) {
    stepDown(replica, leader, new BazaarError('NO_QUORUM', `epoch ${leader.epoch}: a majority did not take the starting log within ${ELECTION_TIMEOUT_MS} ms`));
  }
  for (const follower of leader.followers) {
    if (follower.retryAt !== undefined && follower.retryAt <= replica.now) {
      follower.retryAt = undefined;
      pump(replica, leader, follower);
    }
  }
  pumpCatalog(replica, leader);
}

export function stepDown(replica: Replica, leader: LeaderEpoch, why?: Error): void {
  if (leader.stopped) return;
  leader.stopped = true;
  leader.serving = false;
  if (replica.leading === leader) {
    replica.leading = undefined;
    replica.replicationRole = 'follower';
  }
  for (const waiter of leader.waiters.splice(0)) settled(replica, waiter.settle, waiter.number, fail(notLeaderOf(replica)));
  finishElection(replica, leader.epoch, fail(why ?? notLeaderOf(replica)));
}

// ---- Keeping each follower's log equal to ours -------------------------------------------------

export function pumpAll(replica: Replica, leader: LeaderEpoch): void {
  for (const follower of leader.followers) pump(replica, leader, follower);
}

/** Sends the follower what it lacks, unless a message is on its way or it waits for a retry. */
export function pump(replica: Replica, leader: LeaderEpoch, follower: FollowerProgress): void {
  if (leader.stopped || follower.sending || follower.retryAt !== undefined) return;
  const { log } = replica;
  if (follower.inSync && follower.nextFrom >= log.nextNumber) return;
  const from = Math.min(follower.nextFrom, log.nextNumber);
  const end = Math.min(log.nextNumber, from + replica.batchEntries);
  const request: AppendRequest = {
    epoch: leader.epoch,
    leaderId: replica.id,
    startLength: leader.startLength,
    from,
    prev: from === 0 ? null : entryRef(log.written(from - 1)!),
    entries: log.writtenRange(from, end),
  };
  follower.sending = true;
  replica.io({ kind: 'send', to: follower.peer, message: { kind: 'append', request } }, { kind: 'replicate', leader, follower, from });
}

export function replicated(replica: Replica, { leader, follower, from }: PendingOf<'replicate'>, outcome: Outcome<unknown>): void {
  follower.sending = false;
  if (leader.stopped) return;
  if (!outcome.ok) {
    // Down, hung or unreachable: stop waiting for it, and try again shortly.
    if (follower.inSync) replica.note(`follower ${follower.peer} is not answering; orders no longer wait for it`);
    follower.inSync = false;
    follower.retryAt = replica.now + ticks(REPLICATION_RETRY_MS);
    advanceCommit(replica, leader);
    return;
  }
  const reply = outcome.value as AppendReply;
  if (reply.ok) {
    follower.matchLength = reply.length;
    follower.nextFrom = reply.length;
    follower.backoff = 1;
    const recovering = reply.recovering === true;
    if (recovering !== follower.recovering) replica.note(recovering ? `follower ${follower.peer} is recovering a lost disk: copying the log to it; it counts toward no majority yet` : `follower ${follower.peer} has recovered at ${reply.length} orders`);
    follower.recovering = recovering;
    if (follower.recovering) {
      follower.inSync = false;
    } else if (!follower.inSync && reply.length >= replica.log.length) {
      follower.inSync = true;
      replica.note(`follower ${follower.peer} is in sync at ${reply.length} orders`);
    }
  } else if (reply.reason === 'recovering') {
    // It lost its disk and is still asking where the cluster stands: not counted; try again shortly.
    if (!follower.recovering) replica.note(`follower ${follower.peer} is recovering a lost disk; it counts toward no majority until it holds this log`);
    follower.recovering = true;
    follower.inSync = false;
    follower.retryAt = replica.now + ticks(REPLICATION_RETRY_MS);
    advanceCommit(replica, leader);
    return;
  } else if (reply.reason === 'stale') {
    replica.note(`follower ${follower.peer} is in epoch ${reply.epoch}; stepping down from epoch ${leader.epoch}`);
    stepDown(replica, leader);
    return;
  } else {
    follower.inSync = false;
    if (reply.reason === 'gap') {
      follower.nextFrom = reply.length;
    } else {
      // Look back further each time, but never by more than a message holds: the next message
      // then reaches past `from`, where the logs are known to part. A message that ended short
      // of it would have the follower cut entries it shares with us (the follower cuts past a
      // message's end), acknowledged ones included.
      follower.nextFrom = Math.max(0, from - follower.backoff);
      follower.backoff = Math.min(follower.backoff * 4, replica.batchEntries);
    }
  }
  advanceCommit(replica, leader);
  pump(replica, leader, follower);
}

/** A returning replica asks to be brought up to date now rather than at the next retry. */
export function rejoin(replica: Replica, peer: number): void {
  const leader = replica.leading;
  const follower = leader?.followers.find((candidate) => candidate.peer === peer);
  if (leader === undefined || follower === undefined) return;
  follower.inSync = false;
  follower.nextFrom = replica.log.length;
  follower.backoff = 1;
  follower.retryAt = undefined;
  pump(replica, leader, follower);
}
