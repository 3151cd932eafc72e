// The commit arithmetic (etcd-io/raft's `quorum/majority`), apart from everything that moves it.
// What a majority is lives in core/quorum.ts.

/**
 * How much of the leader's log is acknowledged: durable on the leader (`ownLength`), on every
 * follower counted in sync, and on a majority of all replicas. A follower may hold entries not yet
 * durable on the leader; starting from the leader's durable length keeps the commit point from
 * passing it. A recovering follower (a lost disk) holds nothing that counts.
 */
export function committedLength(ownLength: number, followers: ReadonlyArray<{ readonly matchLength: number; readonly inSync: boolean; readonly recovering: boolean }>, majority: number): number {
  let live = ownLength;
  for (const follower of followers) if (follower.inSync && !follower.recovering) live = Math.min(live, follower.matchLength);
  const lengths = [ownLength, ...followers.map((follower) => (follower.recovering ? 0 : follower.matchLength))].sort((a, b) => b - a);
  return Math.min(live, lengths[majority - 1]!);
}
