// The leader's bookkeeping for one epoch (etcd-io/raft's `tracker/progress`): what it knows of each
// follower, what waits for the commit point, and the trades between their key check and their
// acknowledgement. Plain data: the machine and the simulator's trace can read every field.
import type { KeyedTrade } from '../../core/trade.ts';

/** What the leader knows of one follower during its epoch. */
export class FollowerProgress {
  readonly peer: number;
  /** The follower's log equals ours below this number (as far as the leader has heard). */
  matchLength = 0;
  /** Where the next message starts. */
  nextFrom: number;
  /** Counted as live: every new entry waits for it. Set when it has all we had; cleared on any failure. */
  inSync = false;
  /** It said it is recovering from a lost disk: it counts toward no majority until it says otherwise. */
  recovering = false;
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

/**
 * What the leader knows of the catalog, which applies the committed log (catalog/state.ts): which
 * incarnation it is, from where that incarnation approved every entry, and how far it has applied.
 */
export class CatalogProgress {
  /** The incarnation named in approvals; undefined until one answers. */
  incarnation: string | undefined;
  /** The first incarnation to answer this epoch. */
  first: string | undefined;
  /** Entries from here on were approved by `incarnation`; it approves nothing until it has applied those before. */
  since: number;
  /** Entries before this are applied there (as far as the leader has heard); undefined until it answers. */
  applied: number | undefined;
  /** An apply message is on its way. */
  sending = false;
  /** After a failure: the tick before which nothing is sent. */
  retryAt: number | undefined;
  /** While it is level: the tick at which to look in on it (an empty message) again. */
  lookInAt = 0;

  constructor(since: number) {
    this.since = since;
  }
}

/** Who waits for a placed order's outcome: a request from outside. */
export type Waiter = { readonly kind: 'request'; readonly request: number };

/** A trade between its key check and its acknowledgement; every request for its key waits on it. */
export interface Flight {
  readonly trade: KeyedTrade;
  readonly origin: string | undefined;
  readonly waiters: Waiter[];
  /** Approvals asked so far (a restarted or lagging catalog is asked again, a bounded number of times). */
  asks: number;
}

/** What happens once an entry is acknowledged: a flight finishes, or a retry of a logged key is answered. */
export type Settle =
  | { readonly kind: 'flight'; readonly flight: Flight }
  | { readonly kind: 'retry'; readonly waiter: Waiter };

export interface CommitWaiter {
  readonly number: number;
  /** The tick by which a majority must hold it, or it fails with NO_QUORUM. */
  readonly deadline: number;
  readonly settle: Settle;
}

/** The leader's state for one epoch; dropped whole when it steps down. */
export class LeaderEpoch {
  readonly epoch: number;
  readonly startLength: number;
  readonly followers: FollowerProgress[];
  /** The tick by which a majority must hold the starting log. */
  readonly serveBy: number;
  commitLength = 0;
  serving = false;
  stopped = false;
  readonly waiters: CommitWaiter[] = [];
  readonly catalog: CatalogProgress;

  constructor(epoch: number, startLength: number, followers: FollowerProgress[], serveBy: number) {
    this.epoch = epoch;
    this.startLength = startLength;
    this.followers = followers;
    this.serveBy = serveBy;
    this.catalog = new CatalogProgress(startLength);
  }
}
