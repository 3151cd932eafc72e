// Recovery of a replica whose disk was lost or damaged (src/disk/ decides that at start): it may
// have acknowledged entries and joined epochs it no longer remembers, so it must neither vote nor
// count toward a majority until it holds what it could have acknowledged. Viewstamped Replication
// Revisited's recovery, on this protocol:
//
// 1. Asking. It asks every peer where the cluster stands, and waits for answers from a majority of
//    the cluster among its peers that are not recovering themselves. Any epoch it could have joined
//    was joined by a majority, and two majorities share a replica other than itself (it cannot count
//    itself: it forgot), so the highest epoch among those answers is at least every epoch it ever
//    joined. It goes on only when the serving leader of that epoch is among them.
// 2. Copying. It joins that epoch under that leader and takes its entries through the ordinary
//    append path (follower.ts), answering each append as `recovering`, so the leader counts it toward
//    no majority. The leader's log then held every acknowledged order; once this log equals the
//    leader's up to the length the leader reported, the replica holds everything it could have
//    acknowledged: it durably stops recovering, and counts from its next answer on.
//
// A newer epoch while copying, or a leader that falls silent, sends it back to asking.
import { RECOVERY_RETRY_MS, RECOVERY_STALL_MS } from '../../core/limits.ts';
import type { RecoverReply } from '../../protocol/replication.ts';
import type { RecoveryStatus } from '../../protocol/health.ts';
import { persistState, type Replica, ticks } from './context.ts';
import type { Outcome } from './messages.ts';
import type { Recovery, RecoverRound, SerialWork } from './pending.ts';

/** The recovery a replica starts with when its state says it is recovering. */
export function startingRecovery(): Recovery {
  return { phase: 'asking', round: undefined, askAt: 0, leaderId: null, target: null, heardAt: 0, wanting: undefined };
}

/** What this replica tells a recovering peer (a query: it changes nothing). */
export function recoverReply(replica: Replica): RecoverReply {
  const { state } = replica;
  return { epoch: state.epoch, leaderId: state.leaderId, serving: replica.leading?.serving === true, length: replica.log.length, recovering: replica.recovery !== undefined };
}

export function recoveryStatus(recovery: Recovery): RecoveryStatus {
  return { phase: recovery.phase, leaderId: recovery.phase === 'copying' ? recovery.leaderId : null, target: recovery.phase === 'copying' ? recovery.target : null };
}

/** A tick: ask when it is time; give up on a silent leader. */
export function tickRecovery(replica: Replica, recovery: Recovery): void {
  if (recovery.phase === 'asking' && recovery.round === undefined && recovery.askAt <= replica.now) return ask(replica, recovery);
  if (recovery.phase === 'copying' && replica.now - recovery.heardAt > ticks(RECOVERY_STALL_MS)) {
    askAgain(replica, `leader ${recovery.leaderId} has sent nothing for ${RECOVERY_STALL_MS} ms`);
  }
}

/** Back to asking (a newer epoch, or a silent leader). */
export function askAgain(replica: Replica, why: string): void {
  const recovery = replica.recovery;
  if (recovery === undefined) return;
  replica.note(`recovering: ${why}; asking the peers again`);
  Object.assign(recovery, { phase: 'asking', round: undefined, askAt: replica.now, leaderId: null, target: null, wanting: undefined });
}

function ask(replica: Replica, recovery: Recovery): void {
  const round: RecoverRound = { replies: [], tallied: false };
  recovery.round = round;
  if (replica.peers.length === 0) return tally(replica, recovery, round);
  for (const peer of replica.peers) replica.io({ kind: 'send', to: peer, message: { kind: 'recover', request: { id: replica.id } } }, { kind: 'recover', round, peer });
}

export function recoverAnswered(replica: Replica, round: RecoverRound, peer: number, outcome: Outcome<unknown>): void {
  const recovery = replica.recovery;
  if (round.tallied) return;
  round.replies.push({ peer, reply: outcome.ok ? (outcome.value as RecoverReply) : undefined });
  if (recovery?.round === round && round.replies.length === replica.peers.length) tally(replica, recovery, round);
}

function tally(replica: Replica, recovery: Recovery, round: RecoverRound): void {
  round.tallied = true;
  recovery.round = undefined;
  recovery.askAt = replica.now + ticks(RECOVERY_RETRY_MS);
  const answers = round.replies.filter((item) => item.reply !== undefined);
  const sound = answers.filter((item) => !item.reply!.recovering);
  const recoveringPeers = answers.filter((item) => item.reply!.recovering).map((item) => item.peer);
  if (sound.length < replica.majority) {
    const cluster = replica.peers.length + 1;
    // This replica and the recovering peers hold no trusted copy: with fewer than a majority left,
    // the orders only they held are gone, and nothing here can bring them back.
    if (cluster - 1 - recoveringPeers.length < replica.majority) {
      return want(replica, recovery, `a majority of replicas lost their disks (this one${recoveringPeers.map((peer) => `, ${peer}`).join('')}): the orders only they held cannot be recovered; restore a lost data folder from a backup, or start a new cluster`);
    }
    return want(replica, recovery, `${sound.length} of its ${replica.peers.length} peers answered and are not recovering themselves; it needs ${replica.majority}`);
  }
  let epoch = replica.state.epoch;
  for (const { reply } of sound) epoch = Math.max(epoch, reply!.epoch);
  const leader = sound.find((item) => item.reply!.serving && item.reply!.epoch === epoch);
  if (leader === undefined) return want(replica, recovery, `no replica serves as leader of epoch ${epoch} yet`);
  const target = leader.reply!.length;
  replica.note(`recovering: epoch ${epoch} is led by replica ${leader.peer}; copying its log (${target} orders) from it; this replica counts again once it holds them`);
  Object.assign(recovery, { phase: 'copying', leaderId: leader.peer, target, heardAt: replica.now, wanting: undefined });
  replica.enqueue(new FollowWork(replica, epoch, leader.peer));
}

function want(replica: Replica, recovery: Recovery, why: string): void {
  if (recovery.wanting !== why) replica.note(`recovering: ${why}; asking again every ${RECOVERY_RETRY_MS} ms`);
  recovery.wanting = why;
}

/** Joins the leader's epoch (durably), then asks the leader for what this log lacks. */
class FollowWork implements SerialWork {
  readonly kind = 'recovery-follow';
  readonly request = undefined;
  stage: 'start' | 'persisting' = 'start';

  constructor(
    private readonly replica: Replica,
    readonly epoch: number,
    readonly leaderId: number,
  ) {}

  start(): void {
    const { replica, epoch, leaderId } = this;
    const recovery = replica.recovery;
    // Overtaken meanwhile (a newer epoch sent it back to asking, or it finished).
    if (recovery?.phase !== 'copying' || recovery.leaderId !== leaderId || replica.state.epoch > epoch) return this.done();
    replica.matched = 0;
    replica.state = { ...replica.state, epoch, leaderId };
    this.stage = 'persisting';
    persistState(replica, this);
  }

  resume(outcome: Outcome<unknown>): void {
    const { replica } = this;
    if (!outcome.ok) {
      this.done();
      return askAgain(replica, `could not save its state (${outcome.error.message})`);
    }
    if (replica.recovery?.phase === 'copying') replica.io({ kind: 'send', to: this.leaderId, message: { kind: 'rejoin', id: replica.id } }, { kind: 'rejoin' });
    this.done();
  }

  private done(): void {
    this.replica.finishSerial(this);
  }
}

/** After an append from the recovery's leader: whether this log now holds what it must before it counts. */
export function recovered(replica: Replica, end: number): boolean {
  const recovery = replica.recovery;
  if (recovery === undefined) return false;
  return recovery.phase === 'copying' && recovery.target !== null && end >= recovery.target && replica.state.leaderId === recovery.leaderId;
}

/** The state saying it no longer recovers is durable: it counts from now on. */
export function finishRecovery(replica: Replica): void {
  const target = replica.recovery?.target;
  replica.recovery = undefined;
  replica.replicationRole = 'follower';
  replica.note(`recovered: this log equals leader ${replica.state.leaderId}'s through ${target} orders; counting toward majorities again`);
}
