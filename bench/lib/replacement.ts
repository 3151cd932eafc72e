// Cache replacement shown: the frontend's LRU cache made smaller than the catalog. For each cache
// size and each choice of stock (uniform, or skewed toward a few popular stocks), five `bazaar client`
// sessions only look up (p = 0, so no invalidation muddies the picture) and the frontend's own
// counters say how often the cache answered and how many entries it had to evict.
import { runClient, withCluster } from './fixture.ts';
import { cacheStats, WARMUP_ITERATIONS } from './scenarios.ts';

/** Zipf exponent of the skewed choice: the first of 11 stocks gets about a third of the lookups. */
export const REPLACEMENT_SKEW = 1;

export interface ReplacementPoint {
  readonly cache_size: number;
  readonly stocks: number;
  readonly skew: number;
  readonly lookups: number;
  readonly hits: number;
  readonly misses: number;
  readonly evictions: number;
  readonly hit_ratio: number;
  readonly lookup_p50_ms: number | null;
  readonly lookup_p90_ms: number | null;
  readonly errors: number;
}

export async function replacement(sizes: readonly number[], iterations: number, seed: number, progress: (message: string) => void): Promise<ReplacementPoint[]> {
  const points: ReplacementPoint[] = [];
  for (const skew of [0, REPLACEMENT_SKEW]) {
    for (const size of sizes) {
      progress(`replacement: cache of ${size} entries, ${skew === 0 ? 'uniform' : `skewed (Zipf ${skew})`} choice of stock`);
      points.push(
        await withCluster({ cache: true, cacheSize: size }, async (local) => {
          const frontend = local.cluster.url('frontend');
          await runClient(local, frontend, { p: 0, iterations: WARMUP_ITERATIONS, clients: 5, seed: seed + 1, skew });
          const before = await cacheStats(local.config);
          const report = await runClient(local, frontend, { p: 0, iterations, clients: 5, seed, skew });
          const after = await cacheStats(local.config);
          const hits = after.hits - before.hits;
          const misses = after.misses - before.misses;
          return {
            cache_size: size,
            stocks: local.config.catalog.stocks.length,
            skew,
            lookups: report.latency.lookup.count,
            hits,
            misses,
            evictions: after.evictions - before.evictions,
            hit_ratio: Math.round((hits / Math.max(1, hits + misses)) * 1000) / 1000,
            lookup_p50_ms: report.latency.lookup.p50_ms,
            lookup_p90_ms: report.latency.lookup.p90_ms,
            errors: report.errors,
          };
        }),
      );
      const point = points.at(-1)!;
      progress(`  hit ratio ${point.hit_ratio}, ${point.evictions} evictions, lookup p50 ${point.lookup_p50_ms} ms`);
    }
  }
  return points;
}
