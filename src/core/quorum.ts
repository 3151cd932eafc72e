// How many replicas make a majority: the one number the replication rules, the operator's status and
// the dashboard all count with.

/** Replicas that make a majority of a cluster of `size`. */
export function majorityOf(size: number): number {
  return Math.floor(size / 2) + 1;
}
