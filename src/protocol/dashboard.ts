// What the dashboard's server streams to its page (Server-Sent Events, one JSON object per event)
// and what the page sends back (actions). The page is plain JavaScript; these types are the contract
// both sides are written against, and the browser test reads the page as a user would.
import type { ClientReport } from './report.ts';
import type { CacheStats, ReplicationRole } from './health.ts';

/** The request types the lab measures, by the frontend's route names. */
export const ROUTES = { lookup: 'GET /stocks/:name', trade: 'POST /orders', order_query: 'GET /orders/:number' } as const;
export type RouteKind = keyof typeof ROUTES;

export interface RoleBox {
  readonly name: string;
  readonly address: string;
  readonly up: boolean;
  /** From the local `bazaar up`, when the dashboard runs beside one. */
  readonly pid: number | null;
}

export type SyncState = 'leader' | 'in sync' | 'catching up' | 'recovering' | 'down' | 'unknown';

export interface ReplicaBox extends RoleBox {
  readonly id: number;
  readonly role: ReplicationRole | null;
  readonly serving: boolean;
  readonly epoch: number | null;
  readonly logEpoch: number | null;
  /** -1 for an empty log. */
  readonly lastNumber: number | null;
  /** Orders the leader has that this replica lacks. */
  readonly lag: number | null;
  readonly sync: SyncState;
  /** While catching up: the share of the leader's log it holds, 0 to 1. */
  readonly progress: number | null;
}

export interface FrontendBox extends RoleBox {
  readonly leader: number | null;
  readonly epoch: number | null;
  readonly elections: number | null;
  readonly cache: CacheStats | null;
  /** Hits over lookups answered with caching on, since the frontend started. */
  readonly hitRatio: number | null;
}

export interface CatalogBox extends RoleBox {
  readonly trades: number | null;
}

export interface StockRow {
  readonly name: string;
  readonly price: number;
  readonly quantity: number;
  readonly volume: number;
}

/**
 * G4 as the dashboard sees it: the catalog's quantities and volumes against those the committed
 * order log implies. `in flight` while the catalog has applied trades the log has not committed yet.
 */
export interface Conservation {
  readonly state: 'equal' | 'in flight' | 'differs' | 'unknown';
  readonly orders: number;
  readonly catalogTrades: number | null;
  readonly differing: readonly string[];
}

export interface Snapshot {
  readonly at: number;
  readonly catalog: CatalogBox;
  /** The first frontend (where the page's summary looks); every frontend is in `frontends`. */
  readonly frontend: FrontendBox;
  readonly frontends: readonly FrontendBox[];
  readonly replicas: readonly ReplicaBox[];
  readonly stocks: readonly StockRow[];
  readonly conservation: Conservation;
  /** Whether crash, recover and hang can reach a local `bazaar up`. */
  readonly supervised: boolean;
  readonly tokenRequired: boolean;
}

/** One point of the charts: rates and latencies over the interval that ends at `at`. */
export interface Point {
  readonly at: number;
  readonly rps: Readonly<Record<RouteKind, number>>;
  /** Milliseconds, null when the interval had no such request. */
  readonly p50: Readonly<Record<RouteKind, number | null>>;
  readonly p99: Readonly<Record<RouteKind, number | null>>;
  readonly ordersPerS: number;
  readonly hitRatio: number | null;
}

export type EventKind = 'election' | 'crash' | 'restart' | 'catch-up' | 'recovery' | 'rebuild' | 'cache-reset' | 'refused' | 'action' | 'load';

export interface TimelineEvent {
  readonly at: number;
  readonly kind: EventKind;
  readonly text: string;
  /** An action that failed, or a load that found errors. */
  readonly failed?: boolean;
}

export interface LoadRequest {
  readonly p: number;
  readonly sessions: number;
  readonly iterations: number;
}

export interface LoadState {
  readonly running: boolean;
  readonly request: LoadRequest | null;
  readonly startedAt: number | null;
  readonly report: ClientReport | null;
  readonly error: string | null;
}

/** The first event on a stream: everything the page needs to draw, history included. */
export interface Hello {
  readonly snapshot: Snapshot;
  readonly points: readonly Point[];
  readonly events: readonly TimelineEvent[];
  readonly load: LoadState;
}

/** Every later sample: the new state, its point and the events since the last one. */
export interface Update {
  readonly snapshot: Snapshot;
  readonly point: Point | null;
  readonly events: readonly TimelineEvent[];
}
