// Every role's `GET /health`: what it says about itself, a type and a parser each. The frontend's
// leader chooser, a returning replica looking for its leader, and `bazaar admin status` all read a
// replica's health through `parseOrderHealth`; admin reads the others' through theirs.
import { count, flag, object, oneOf } from './parse.ts';

/**
 * A replica's part in replication; a process's role (catalog, order, frontend) is something else.
 * A recovering replica lost or damaged its disk: it takes part in no election and no majority.
 */
export type ReplicationRole = 'follower' | 'candidate' | 'leader' | 'recovering';

/** Where a recovering replica stands: asking its peers where the cluster is, or copying the leader's log up to `target`. */
export interface RecoveryStatus {
  readonly phase: 'asking' | 'copying';
  /** The leader it copies from (while copying). */
  readonly leaderId: number | null;
  /** It counts again once its log matches the leader's up to here (while copying). */
  readonly target: number | null;
}

export interface ReplicaStatus {
  readonly id: number;
  readonly replicationRole: ReplicationRole;
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
  /** While recovering; null otherwise. */
  readonly recovery: RecoveryStatus | null;
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


/** Every role's health names its process, so a supervisor can tell its own child from whatever else answers the port. */
interface Process {
  /** Null from a build that did not say. */
  readonly pid: number | null;
}

export interface OrderHealth extends Omit<ReplicaStatus, 'replicationRole'>, Process {
  readonly role: 'order';
  /** The replica's role in replication (follower, candidate, leader, recovering). */
  readonly state: ReplicationRole;
  readonly status: 'up';
}

export interface CatalogHealth extends Process {
  readonly role: 'catalog';
  readonly status: 'up';
  /** Committed orders applied (the catalog is the order log's derived state). */
  readonly trades: number;
  /** Level with the committed log since it started: lookups and approvals are served. False while it rebuilds. */
  readonly ready: boolean;
}

export interface FrontendHealth extends Process {
  readonly role: 'frontend';
  readonly status: 'up';
  readonly leader: number | null;
  readonly epoch: number;
  readonly cache: CacheStats;
}

export function orderHealth(status: ReplicaStatus): OrderHealth {
  const { replicationRole, ...rest } = status;
  return { ...rest, role: 'order', state: replicationRole, status: 'up', pid: process.pid };
}

const BAD = 'UPSTREAM_BAD_REPLY';
const ROLES: readonly ReplicationRole[] = ['follower', 'candidate', 'leader', 'recovering'];
const nullable = <T>(value: unknown, parse: (value: unknown) => T): T | null => (value === null ? null : parse(value));
const pidOf = (value: Record<string, unknown>): number | null => (value.pid === undefined ? null : count(value.pid, 'pid', 1, BAD));

export function parseOrderHealth(data: unknown): OrderHealth {
  const value = object(data, 'replica health', BAD);
  const state = oneOf(value.state, 'state', ROLES, BAD);
  return {
    id: count(value.id, 'id', 1, BAD),
    role: oneOf(value.role, 'role', ['order'] as const, BAD),
    serving: flag(value.serving, 'serving', BAD),
    epoch: count(value.epoch, 'epoch', 0, BAD),
    leaderId: nullable(value.leaderId, (item) => count(item, 'leaderId', 1, BAD)),
    logEpoch: count(value.logEpoch, 'logEpoch', 0, BAD),
    lastNumber: count(value.lastNumber, 'lastNumber', -1, BAD),
    commitLength: nullable(value.commitLength, (item) => count(item, 'commitLength', 0, BAD)),
    logBytes: count(value.logBytes, 'logBytes', 0, BAD),
    // A build from before recovery has no `recovery`.
    recovery: value.recovery === undefined ? null : nullable(value.recovery, parseRecoveryStatus),
    state,
    status: oneOf(value.status, 'status', ['up'] as const, BAD),
    pid: pidOf(value),
  };
}

function parseRecoveryStatus(data: unknown): RecoveryStatus {
  const value = object(data, 'recovery', BAD);
  return {
    phase: oneOf(value.phase, 'recovery.phase', ['asking', 'copying'] as const, BAD),
    leaderId: nullable(value.leaderId, (item) => count(item, 'recovery.leaderId', 1, BAD)),
    target: nullable(value.target, (item) => count(item, 'recovery.target', 0, BAD)),
  };
}

export function parseCatalogHealth(data: unknown): CatalogHealth {
  const value = object(data, 'catalog health', BAD);
  return { role: oneOf(value.role, 'role', ['catalog'] as const, BAD), status: oneOf(value.status, 'status', ['up'] as const, BAD), trades: count(value.trades, 'trades', 0, BAD), ready: flag(value.ready, 'ready', BAD), pid: pidOf(value) };
}

function parseCacheStats(data: unknown): CacheStats {
  const value = object(data, 'cache stats', BAD);
  const number = (field: keyof CacheStats): number => count(value[field], `cache.${field}`, 0, BAD);
  return {
    enabled: flag(value.enabled, 'cache.enabled', BAD),
    max: number('max'),
    size: number('size'),
    hits: number('hits'),
    misses: number('misses'),
    evictions: number('evictions'),
    invalidations: number('invalidations'),
    resets: number('resets'),
    leaseValid: flag(value.leaseValid, 'cache.leaseValid', BAD),
  };
}

export function parseFrontendHealth(data: unknown): FrontendHealth {
  const value = object(data, 'frontend health', BAD);
  return {
    role: oneOf(value.role, 'role', ['frontend'] as const, BAD),
    status: oneOf(value.status, 'status', ['up'] as const, BAD),
    leader: nullable(value.leader, (item) => count(item, 'leader', 1, BAD)),
    epoch: count(value.epoch, 'epoch', 0, BAD),
    cache: parseCacheStats(value.cache),
    pid: pidOf(value),
  };
}
