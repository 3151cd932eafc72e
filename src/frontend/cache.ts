// The frontend's stock cache: least-recently-used (lru-cache), bounded, invalidated by the catalog's
// pushes. It answers only while the catalog's lease holds, forgets everything when it learns it
// missed a push, and never takes in a value older than one it has seen invalidated, which closes
// the race where a lookup read the old value and stored it after the invalidation had passed.
import { LRUCache } from 'lru-cache';
import { CACHE_CLOCK_SKEW_MS_MAX, CACHE_LEASE_MS } from '../core/limits.ts';
import type { Stock } from '../core/trade.ts';
import type { CacheStats } from '../protocol/health.ts';
import type { Invalidation, InvalidationMessage } from '../protocol/push.ts';

export interface Cached {
  readonly stock: Stock;
  readonly version: number;
  /** The reply to `GET /stocks/{name}`, serialized once when the entry is filled. */
  readonly body: string;
  /** Its response headers, as a flat name/value list, built once too. */
  readonly headers: readonly string[];
}

export class StockCache {
  readonly enabled: boolean;
  readonly max: number;
  private readonly now: () => number;
  private readonly entries: LRUCache<string, Cached> | undefined;
  /** Newest version of each stock heard of, from pushes or lookups; one per stock the catalog has. */
  private readonly seen = new Map<string, number>();
  /** The `to` of the last push; -2 before the first (no push can continue from it). */
  private lastSeq = -2;
  private leaseUntil = 0;
  private counts = { hits: 0, misses: 0, evictions: 0, invalidations: 0, resets: 0 };

  constructor(options: { enabled: boolean; max: number; now?: () => number }) {
    this.enabled = options.enabled;
    this.max = options.max;
    this.now = options.now ?? Date.now;
    this.entries = options.enabled
      ? new LRUCache<string, Cached>({
          max: options.max,
          dispose: (_value, _key, reason) => {
            if (reason === 'evict') this.counts.evictions += 1;
          },
        })
      : undefined;
  }

  private leaseValid(): boolean {
    return this.now() < this.leaseUntil;
  }

  /** The cached stock (and its serialized reply), if caching is on, the lease holds and it is there. */
  get(name: string): Cached | undefined {
    if (this.entries === undefined) return undefined;
    const cached = this.leaseValid() ? this.entries.get(name) : undefined;
    if (cached === undefined) {
      this.counts.misses += 1;
      return undefined;
    }
    this.counts.hits += 1;
    return cached;
  }

  /** The cached entry on a hit (counted), or undefined without counting a miss: for a fast path that falls back to `get`. */
  hit(name: string): Cached | undefined {
    if (this.entries === undefined || !this.leaseValid()) return undefined;
    const cached = this.entries.get(name);
    if (cached !== undefined) this.counts.hits += 1;
    return cached;
  }

  /** Offers a value just read from the catalog; it is kept only if nothing newer has been heard of. */
  fill(stock: Stock, version: number): void {
    const newest = this.seen.get(stock.name) ?? -1;
    if (version > newest) this.seen.set(stock.name, version);
    if (this.entries === undefined || !this.leaseValid() || version < newest) return;
    const body = JSON.stringify({ data: stock });
    const headers = ['content-type', 'application/json; charset=utf-8', 'content-length', String(Buffer.byteLength(body))];
    this.entries.set(stock.name, { stock, version, body, headers });
  }

  /** A push from the catalog: drop what changed, renew the lease. */
  apply(message: InvalidationMessage): void {
    if (message.from !== this.lastSeq) {
      // A push was missed (or this is the first since either side started): nothing cached can be trusted.
      this.entries?.clear();
      this.counts.resets += 1;
    }
    for (const invalidation of message.invalidations) this.invalidate(invalidation);
    this.lastSeq = message.to;
    // The lease is the catalog's clock; allow for the hosts' clocks to differ. Never longer than one
    // lease from now, whatever a message claims, so a forged push cannot freeze the cache for long.
    this.leaseUntil = Math.min(message.leaseUntil, this.now() + CACHE_LEASE_MS) - CACHE_CLOCK_SKEW_MS_MAX;
  }

  /**
   * The stock changed to `version`: drop an older cached copy, and take no older one from now on.
   * From a push, or from a trade's own reply (which this frontend applies before it answers).
   */
  invalidate({ name, version }: Invalidation): void {
    if (version > (this.seen.get(name) ?? -1)) this.seen.set(name, version);
    const cached = this.entries?.peek(name);
    if (cached !== undefined && cached.version < version) {
      this.entries!.delete(name);
      this.counts.invalidations += 1;
    }
  }

  stats(): CacheStats {
    return { enabled: this.enabled, max: this.max, size: this.entries?.size ?? 0, ...this.counts, leaseValid: this.leaseValid() };
  }
}

