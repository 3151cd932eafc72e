// Latency summaries for the client's report.
import type { LatencySummary } from '../protocol/report.ts';

export type { LatencySummary };

/** Nearest-rank percentile of sorted values; 0 for an empty list. */
export function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil(fraction * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function summarize(samples_ms: readonly number[]): LatencySummary {
  const sorted = [...samples_ms].sort((a, b) => a - b);
  if (sorted.length === 0) return { count: 0, p50_ms: null, p90_ms: null, p99_ms: null, max_ms: null, mean_ms: null };
  const round = (value: number): number => Math.round(value * 1000) / 1000;
  const total = sorted.reduce((sum, value) => sum + value, 0);
  return {
    count: sorted.length,
    p50_ms: round(percentile(sorted, 0.5)),
    p90_ms: round(percentile(sorted, 0.9)),
    p99_ms: round(percentile(sorted, 0.99)),
    max_ms: round(sorted.at(-1)!),
    mean_ms: round(total / sorted.length),
  };
}
