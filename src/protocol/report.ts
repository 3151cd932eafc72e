// What `bazaar client` reports (its --json file, and what the dashboard streams of a load it runs).
// A shape shared by the client and the dashboard, so neither imports the other's folder.

/** Latencies of successful requests; with none, every figure is null (a run with no samples has no p50, not a p50 of 0). */
export interface LatencySummary {
  readonly count: number;
  readonly p50_ms: number | null;
  readonly p90_ms: number | null;
  readonly p99_ms: number | null;
  readonly max_ms: number | null;
  readonly mean_ms: number | null;
}

export type RequestKind = 'lookup' | 'trade' | 'order_query';

export interface ClientReport {
  /** The frontend driven; several are joined by commas. */
  readonly frontend: string;
  readonly seed: number;
  readonly p: number;
  readonly skew: number;
  readonly iterations: number;
  readonly clients: number;
  readonly duration_s: number;
  readonly latency: Record<RequestKind, LatencySummary>;
  readonly orders_placed: number;
  /** Trades refused with 409 because not enough stock was left: an answer, not an error. */
  readonly trades_rejected: number;
  /** Requests repeated after a 503 or a network error (a trade with the same idempotency key). */
  readonly retries: number;
  /** Requests that failed after all their retries (no answer, or an answer that is not one); not latency samples. */
  readonly errors: number;
  /** Those failures by request kind: lookups and trades while trading, order queries in the final check. */
  readonly errors_by_kind: Record<RequestKind, number>;
  readonly error_samples: readonly string[];
  readonly mismatches: number;
  readonly mismatch_samples: readonly string[];
  readonly ok: boolean;
}

