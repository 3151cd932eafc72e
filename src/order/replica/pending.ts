// What each piece of I/O the machine started is for: a typed record per action, kept by op number
// until the driver completes it. Completions are events that `machine.ts` dispatches on these
// records; no continuation waits in a closure, so the invariants and a trace can read all of it.
import type { PollReply, RecoverReply } from '../../protocol/replication.ts';
import type { Outcome } from './messages.ts';
import type { CatalogProgress, Flight, FollowerProgress, LeaderEpoch } from './progress.ts';

/**
 * Work that changes the log or the state outside the leader's own appends: one at a time, in arrival
 * order, each a small state machine (`stage`) resumed by the outcome of the I/O it started.
 */
export interface SerialWork {
  readonly kind: string;
  /** Where the work stands; 'settling' waits until none of the leader's own appends is in progress. */
  readonly stage: string;
  start(): void;
  resume(outcome: Outcome<unknown>): void;
  /** The request it answers, if any (failed at once when the replica stops). */
  readonly request: number | undefined;
}

/** A candidate's poll of its peers for one epoch. */
export interface PollRound {
  readonly epoch: number;
  readonly replies: Array<{ readonly peer: number; readonly reply: PollReply | undefined }>;
  tallied: boolean;
  /** Once a majority has joined: the tick at which to tally without the rest. */
  graceAt: number | undefined;
}

/** An election this replica runs (by epoch), so a repeated notice gets the same outcome. */
export interface Election {
  readonly epoch: number;
  readonly requests: number[];
  outcome: Outcome<void> | undefined;
  round: PollRound | undefined;
}

/** A recovering replica's question to its peers (recovery.ts). */
export interface RecoverRound {
  readonly replies: Array<{ readonly peer: number; readonly reply: RecoverReply | undefined }>;
  tallied: boolean;
}

/** Where a recovering replica stands (recovery.ts). */
export interface Recovery {
  phase: 'asking' | 'copying';
  /** The question out while asking. */
  round: RecoverRound | undefined;
  /** While asking with no round out: the tick at which to ask. */
  askAt: number;
  /** While copying: whose log, up to where, and when it last heard from that leader. */
  leaderId: number | null;
  target: number | null;
  heardAt: number;
  /** What the last round found wanting, said once per change. */
  wanting: string | undefined;
}

export type Pending =
  /** The leader's own append of a new order. */
  | { readonly kind: 'own-append'; readonly leader: LeaderEpoch; readonly flight: Flight; readonly number: number }
  /** The catalog's approval of a new trade, asked of the incarnation the leader named. */
  | { readonly kind: 'approve'; readonly leader: LeaderEpoch; readonly flight: Flight; readonly asked: string | null }
  /** Committed entries sent to the catalog to apply. */
  | { readonly kind: 'catalog-apply'; readonly leader: LeaderEpoch; readonly catalog: CatalogProgress }
  /** An append message to a follower. */
  | { readonly kind: 'replicate'; readonly leader: LeaderEpoch; readonly follower: FollowerProgress; readonly from: number }
  /** A peer's answer to a candidate's poll. */
  | { readonly kind: 'poll'; readonly round: PollRound; readonly peer: number }
  /** A peer's answer to a recovering replica's question. */
  | { readonly kind: 'recover'; readonly round: RecoverRound; readonly peer: number }
  /** A rejoin sent to the leader; nothing waits on its answer. */
  | { readonly kind: 'rejoin' }
  /** I/O of the serial work in progress; an append or truncate of the log also settles the written log. */
  | { readonly kind: 'serial'; readonly work: SerialWork; readonly write?: { readonly kind: 'append'; readonly count: number } | { readonly kind: 'truncate' } };
