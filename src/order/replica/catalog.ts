// The leader and the catalog, whose state is derived from the committed log (catalog/state.ts).
// Approvals: before an order is logged the catalog approves its trade (a reservation there), asked of
// the incarnation the leader names; a restarted catalog is named afresh and asked again, and no
// approval of a dead incarnation is ever appended. Applying: the leader sends the catalog committed
// entries in number order, as it sends followers their appends, from wherever the catalog says it
// stands, so a catalog that lost its checkpoint or its disk is brought level with the log the same
// way as one a single entry behind. While idle it looks in every CATALOG_LOOK_IN_MS, so a restart is
// noticed without a trade.
import { BazaarError } from '../../core/errors.ts';
import { CATALOG_APPROVE_ASKS_MAX, CATALOG_LOOK_IN_MS, REPLICATION_RETRY_MS } from '../../core/limits.ts';
import type { ApplyReply, Approval } from '../../protocol/catalog.ts';
import { fail, notLeaderOf, type Replica, ticks } from './context.ts';
import type { Outcome } from './messages.ts';
import type { Pending } from './pending.ts';
import type { Flight, LeaderEpoch } from './progress.ts';

type PendingOf<K extends Pending['kind']> = Extract<Pending, { kind: K }>;

/** What the write path does with a flight once the catalog has answered. */
export interface ApprovalHost {
  /** The trade is approved by the catalog the leader names: log it. */
  approved(replica: Replica, leader: LeaderEpoch, flight: Flight): void;
  /** It cannot be: answer every waiter. */
  refused(replica: Replica, flight: Flight, outcome: Outcome<never>): void;
  stepDown(replica: Replica, leader: LeaderEpoch, why?: Error): void;
}

export function askApproval(replica: Replica, leader: LeaderEpoch, flight: Flight): void {
  const { catalog } = leader;
  flight.asks += 1;
  const asked = catalog.incarnation ?? null;
  const { trade, origin } = flight;
  replica.io(
    { kind: 'catalog', call: { kind: 'approve', call: { trade, origin, epoch: leader.epoch, startLength: leader.startLength, incarnation: asked, since: catalog.since } } },
    { kind: 'approve', leader, flight, asked },
  );
}

export function approvalAnswered(replica: Replica, { leader, flight, asked }: PendingOf<'approve'>, outcome: Outcome<unknown>, host: ApprovalHost): void {
  if (!outcome.ok) {
    // The catalog has heard of a newer epoch: this leader is deposed.
    if (isStale(outcome.error)) {
      host.stepDown(replica, leader);
      return host.refused(replica, flight, fail(notLeaderOf(replica)));
    }
    return host.refused(replica, flight, outcome);
  }
  if (replica.leading !== leader || leader.stopped) return host.refused(replica, flight, fail(notLeaderOf(replica)));
  const approval = outcome.value as Approval;
  meet(replica, leader, approval.incarnation);
  // Asked without a name (before any incarnation answered this epoch), an approval counts if it
  // comes from the first one to answer, still the one named: then no entry past the starting log
  // was approved by another.
  const named = approval.incarnation === asked || (asked === null && approval.incarnation === leader.catalog.first && leader.catalog.incarnation === leader.catalog.first);
  if (approval.status === 'approved' && named) return host.approved(replica, leader, flight);
  // A catalog that restarted (or approved as one the leader no longer names, or has not applied the
  // entries before `since` yet): ask the one named now.
  if (flight.asks >= CATALOG_APPROVE_ASKS_MAX) {
    return host.refused(replica, flight, fail(new BazaarError('UPSTREAM_UNAVAILABLE', `the catalog did not approve the trade after ${flight.asks} attempts (it is restarting or rebuilding from the order log); retry with the same Idempotency-Key`)));
  }
  askApproval(replica, leader, flight);
}

/**
 * The catalog answered as `incarnation`. A new one knows nothing the old one approved: entries from
 * the end of the log as it stands now are approved by it, and it approves nothing before it has
 * applied every entry before them (they are all in this log already).
 */
function meet(replica: Replica, leader: LeaderEpoch, incarnation: string): void {
  const { catalog } = leader;
  if (catalog.incarnation === incarnation) return;
  catalog.first ??= incarnation;
  if (catalog.incarnation !== undefined) replica.note(`the catalog restarted; it approves nothing until it has applied the log through order ${replica.log.nextNumber - 1}`);
  catalog.incarnation = incarnation;
  catalog.since = Math.max(leader.startLength, replica.log.nextNumber);
  catalog.applied = undefined;
}

function isStale(error: Error): boolean {
  return error instanceof BazaarError && error.code === 'STALE_EPOCH';
}

/** Sends the catalog the committed entries it lacks (or, while it is level, looks in on it when due). */
export function pumpCatalog(replica: Replica, leader: LeaderEpoch): void {
  const { catalog } = leader;
  if (leader.stopped || !leader.serving || catalog.sending) return;
  if (catalog.retryAt !== undefined && catalog.retryAt > replica.now) return;
  const commit = leader.commitLength;
  const behind = catalog.applied === undefined || catalog.applied < commit;
  if (!behind && catalog.lookInAt > replica.now) return;
  // Where it stands is unknown (or past our commit point: a checkpoint from another log, which it
  // throws away once it sees this): start at the commit point, and it answers where it stands.
  const from = Math.min(catalog.applied ?? commit, commit);
  const end = Math.min(commit, from + replica.batchEntries);
  const before = from === 0 ? null : replica.log.written(from - 1)!;
  catalog.sending = true;
  catalog.retryAt = undefined;
  replica.io(
    {
      kind: 'catalog',
      call: {
        kind: 'apply',
        request: {
          epoch: leader.epoch,
          startLength: leader.startLength,
          commitLength: commit,
          from,
          prev: before === null ? null : { number: before.number, key: before.key },
          entries: replica.log.writtenRange(from, end),
          incarnation: catalog.incarnation ?? null,
          since: catalog.since,
        },
      },
    },
    { kind: 'catalog-apply', leader, catalog },
  );
}

export function applyAnswered(replica: Replica, { leader, catalog }: PendingOf<'catalog-apply'>, outcome: Outcome<unknown>, host: ApprovalHost): void {
  catalog.sending = false;
  if (leader.stopped) return;
  if (!outcome.ok) {
    if (isStale(outcome.error)) return host.stepDown(replica, leader);
    catalog.retryAt = replica.now + ticks(REPLICATION_RETRY_MS);
    return;
  }
  const reply = outcome.value as ApplyReply;
  const named = catalog.incarnation === reply.incarnation;
  meet(replica, leader, reply.incarnation);
  catalog.applied = reply.applied;
  // A catalog that has not heard this leader name it cannot know it is level: tell it now.
  catalog.lookInAt = named ? replica.now + ticks(CATALOG_LOOK_IN_MS) : replica.now;
  pumpCatalog(replica, leader);
}
