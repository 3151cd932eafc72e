// Every role's `GET /health`: what it says about itself. The frontend's leader chooser, a returning
// replica looking for its leader, and `bazaar admin status` all read replicas' health through
// `parseOrderHealth`; the other roles' shapes are typed here so their servers and readers agree.
import { count, object } from './parse.ts';

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

export interface CacheStats {
  readonly enabled: boolean;
  readonly max: number;
  readonly size: number;
  readonly hits: number;
  readonly misses: number;
  readonly evictions: number;
  readonly invalidations: number;
  /** Times the whole cache was dropped because a push was missed. */
  readonly resets: number;
  readonly leaseValid: boolean;
}


export interface OrderHealth extends Omit<ReplicaStatus, 'role'> {
  readonly role: 'order';
  /** The replica's role in replication (follower, candidate, leader). */
  readonly state: Role;
  readonly status: 'up';
}

export interface CatalogHealth {
  readonly role: 'catalog';
  readonly status: 'up';
  readonly trades: number;
}

export interface FrontendHealth {
  readonly role: 'frontend';
  readonly status: 'up';
  readonly leader: number | null;
  readonly epoch: number;
  readonly cache: CacheStats;
}

/** What a reader of a replica's health relies on; the rest of `OrderHealth` is for people. */
export interface OrderHealthView {
  readonly epoch: number;
  readonly state: string;
  readonly serving: boolean;
}

export function orderHealth(status: ReplicaStatus): OrderHealth {
  return { ...status, role: 'order', state: status.role, status: 'up' };
}

export function parseOrderHealth(data: unknown): OrderHealthView {
  const value = object(data, 'replica health', 'UPSTREAM_BAD_REPLY');
  return { epoch: count(value.epoch, 'epoch', 0, 'UPSTREAM_BAD_REPLY'), state: String(value.state), serving: value.serving === true };
}
