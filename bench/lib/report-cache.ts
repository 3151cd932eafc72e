// The evaluation's caching sections: what the cache buys per request type and per p (the sweep run
// with the cache on and off), each type on its own chart, and replacement with a cache smaller
// than the catalog.
import type { RequestKind } from '../../src/client/index.ts';
import type { LatencySummary } from '../../src/client/stats.ts';
import { table } from './markdown.ts';
import type { ReplacementPoint } from './replacement.ts';
import type { SweepPoint } from './scenarios.ts';
import { COLORS, lineChart } from './svg.ts';

export const KINDS: readonly RequestKind[] = ['lookup', 'trade', 'order_query'];
const LABEL: Record<RequestKind, string> = { lookup: 'lookup', trade: 'trade', order_query: 'order query' };

export interface Benefit {
  readonly p: number;
  readonly kind: RequestKind;
  readonly on: LatencySummary;
  readonly off: LatencySummary;
  /** The frontend's hit ratio over the cache-on run (lookups only); null when not recorded. */
  readonly hitRatio: number | null;
}

/** Every (p, kind) measured both with the cache and without. */
export function benefits(sweep: readonly SweepPoint[]): Benefit[] {
  const ps = [...new Set(sweep.map((point) => point.p))].sort((a, b) => a - b);
  return ps.flatMap((p) => {
    const on = sweep.find((point) => point.cache && point.p === p);
    const off = sweep.find((point) => !point.cache && point.p === p);
    if (on === undefined || off === undefined) return [];
    return KINDS.flatMap((kind) => (on.report.latency[kind].count > 0 && off.report.latency[kind].count > 0 ? [{ p, kind, on: on.report.latency[kind], off: off.report.latency[kind], hitRatio: kind === 'lookup' ? (on.hit_ratio ?? null) : null }] : []));
  });
}

/** Milliseconds to three decimals: a tenth of a millisecond never prints as 0. */
export function ms(value: number | null): string {
  return value === null ? '–' : value.toFixed(3);
}

function ratio(on: number | null, off: number | null): string {
  return on === null || off === null || off === 0 ? '–' : `${(on / off).toFixed(2)} ×`;
}

function difference(on: number | null, off: number | null): string {
  if (on === null || off === null) return '–';
  const delta = on - off;
  return `${delta > 0 ? '+' : delta < 0 ? '−' : ''}${Math.abs(delta).toFixed(3)}`;
}

function range(values: readonly number[]): string {
  const low = Math.min(...values);
  const high = Math.max(...values);
  return low.toFixed(2) === high.toFixed(2) ? `${low.toFixed(2)} ×` : `${low.toFixed(2)}–${high.toFixed(2)} ×`;
}

/** One sentence per request type that answers "how much does caching help?" from the figures. */
export function benefitSentences(rows: readonly Benefit[]): string[] {
  const lines: string[] = [];
  const lookups = rows.filter((row) => row.kind === 'lookup');
  const others = rows.filter((row) => row.kind !== 'lookup');
  const list = (values: readonly string[]): string => (values.length <= 1 ? values.join('') : `${values.slice(0, -1).join(', ')} and ${values.at(-1)}`);
  const signed = (value: number): string => (value < 0 ? `−${Math.abs(value).toFixed(3)}` : value.toFixed(3));
  // How far apart two runs of the same work land: trades and order queries do not use the cache.
  const noise = others.length === 0 ? 0 : Math.max(...others.map((row) => Math.abs(row.on.p50_ms! / row.off.p50_ms! - 1)));
  if (lookups.length > 0) {
    const ratios = lookups.filter((row) => row.hitRatio !== null);
    const hits = ratios.length === 0 ? '' : `The cache answered ${list(ratios.map((row) => `${(row.hitRatio! * 100).toFixed(0)} %`))} of the lookups at p = ${list(ratios.map((row) => String(row.p)))}. `;
    const within = lookups.filter((row) => Math.abs(row.on.p50_ms! / row.off.p50_ms! - 1) <= noise).map((row) => String(row.p));
    lines.push(
      `**Lookups** are the only requests the cache answers. ${hits}Caching saved ${list(lookups.map((row) => signed(row.off.p50_ms! - row.on.p50_ms!)))} ms of the lookup p50 at p = ${list(lookups.map((row) => String(row.p)))} (${list(lookups.map((row) => (row.on.p50_ms! / row.off.p50_ms!).toFixed(2)))} × the uncached p50; at the p90, ${list(lookups.map((row) => (row.on.p90_ms! / row.off.p90_ms!).toFixed(2)))} ×). A hit skips the frontend's round trip to the catalog, and every trade makes the frontends drop that stock's entry (the next lookup of it goes to the catalog), so the more trades, the fewer hits and the smaller the saving.${within.length === 0 ? '' : ` At p = ${list(within)} the difference is no larger than the spread between two runs of the same work (below).`}`,
    );
  }
  if (others.length > 0) {
    lines.push(
      `**Trades and order queries** never use the cache, so their on ÷ off ratios (p50 ${range(others.map((row) => row.on.p50_ms! / row.off.p50_ms!))}, p90 ${range(others.map((row) => row.on.p90_ms! / row.off.p90_ms!))}) are two runs of the same work on a shared 2-core machine: they show how far apart two runs land, and so how large a lookup difference must be to mean something.`,
    );
  }
  return lines;
}

export function cacheSection(sweep: readonly SweepPoint[], svgs: Record<string, string>, rel: (name: string) => string): string[] {
  const rows = benefits(sweep);
  if (rows.length === 0) return [];
  const out: string[] = ['## What the cache buys', ''];
  out.push('The sweep above, cache on against cache off at the same p: the ratio (on ÷ off) and the difference (on − off, negative is faster) of the p50 and the p90, per request type, in ms; and the share of lookups the cache answered in the cache-on run (the frontend\'s own hit and miss counters).', '');
  out.push(
    table(
      ['p', 'request', 'hit ratio', 'p50 off', 'p50 on', 'p50 on ÷ off', 'p50 on − off', 'p90 off', 'p90 on', 'p90 on ÷ off', 'p90 on − off'],
      rows.map((row) => [String(row.p), LABEL[row.kind], row.hitRatio === null ? '–' : row.hitRatio.toFixed(3), ms(row.off.p50_ms), ms(row.on.p50_ms), ratio(row.on.p50_ms, row.off.p50_ms), difference(row.on.p50_ms, row.off.p50_ms), ms(row.off.p90_ms), ms(row.on.p90_ms), ratio(row.on.p90_ms, row.off.p90_ms), difference(row.on.p90_ms, row.off.p90_ms)]),
    ),
    '',
  );
  for (const line of benefitSentences(rows)) out.push(`- ${line}`);
  out.push('');
  out.push('Each request type on its own chart, so that a tenth of a millisecond shows: p50 and p90, solid with the cache on, dashed with it off.', '');
  for (const kind of KINDS) {
    const series = (['p50_ms', 'p90_ms'] as const).flatMap((measure, index) =>
      [true, false].map((cache) => ({
        name: `${measure.replace('_ms', '')}, cache ${cache ? 'on' : 'off'}`,
        color: COLORS[index]!,
        dashed: !cache,
        points: sweep.flatMap((point) => {
          const value = point.report.latency[kind][measure];
          return point.cache === cache && value !== null ? [[point.p, value] as const] : [];
        }),
      })),
    ).filter((entry) => entry.points.length > 0);
    if (series.length === 0) continue;
    const name = `latency-${kind.replace('_', '-')}.svg`;
    svgs[name] = lineChart({ title: `${LABEL[kind]} latency against p (solid: cache on, dashed: off)`, xLabel: 'trade probability p', yLabel: `${LABEL[kind]} latency (ms)`, series });
    out.push(`![${LABEL[kind]} latency against p](${rel(name)})`, '');
  }
  return out;
}

export function replacementSection(points: readonly ReplacementPoint[], svgs: Record<string, string>, rel: (name: string) => string): string[] {
  if (points.length === 0) return [];
  const stocks = points[0]!.stocks;
  const out: string[] = ['## Cache replacement: a cache smaller than the catalog', ''];
  out.push(
    `The frontend's cache is a least-recently-used (LRU) cache of \`--cache-size\` entries. Here it holds fewer than the catalog's ${stocks} stocks: five \`bazaar client\` sessions only look up (p = 0, so nothing is invalidated and only replacement evicts), choosing the stock uniformly or skewed (Zipf: the first stock about a third of the time), a fresh cluster per row, after a warm-up. Hits, misses and evictions are the frontend's own counters over the measured run. With a uniform choice an LRU cache of k entries can hit at most k ÷ ${stocks} of the time; a skew lets it keep the popular stocks and beat that.`,
    '',
  );
  out.push(
    table(
      ['cache entries', 'choice of stock', 'lookups', 'hit ratio', 'uniform bound k ÷ stocks', 'evictions', 'lookup p50 ms', 'lookup p90 ms', 'errors'],
      points.map((point) => [
        `${point.cache_size}${point.cache_size >= point.stocks ? ' (all)' : ''}`,
        point.skew === 0 ? 'uniform' : `skewed (Zipf ${point.skew})`,
        String(point.lookups),
        point.hit_ratio.toFixed(3),
        Math.min(1, point.cache_size / point.stocks).toFixed(3),
        String(point.evictions),
        ms(point.lookup_p50_ms),
        ms(point.lookup_p90_ms),
        String(point.errors),
      ]),
    ),
    '',
  );
  const series = [...new Set(points.map((point) => point.skew))].map((skew, index) => ({
    name: skew === 0 ? 'uniform' : `skewed (Zipf ${skew})`,
    color: COLORS[index]!,
    points: points.filter((point) => point.skew === skew).map((point) => [point.cache_size, point.hit_ratio] as const),
  }));
  svgs['replacement.svg'] = lineChart({ title: 'Hit ratio against cache size', xLabel: 'cache entries', yLabel: 'hit ratio', series });
  out.push(`![hit ratio against cache size](${rel('replacement.svg')})`, '');
  out.push('`test/integration/cache.test.ts` checks what these figures cannot: a stock the cache evicted is fetched again from the catalog, and shows every trade acknowledged before.', '');
  return out;
}
