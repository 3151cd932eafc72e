// Reading the roles' own /metrics (Prometheus text) for the dashboard: samples by name and labels,
// rates between two scrapes, and quantiles estimated from histogram buckets the way Prometheus's
// histogram_quantile does (linear within the bucket).

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = LINE.exec(line);
    if (match === null) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[3] ?? '').matchAll(LABEL)) labels[key!] = value!.replace(/\\(.)/g, (_, char: string) => (char === 'n' ? '\n' : char));
    const value = Number(match[4]);
    if (!Number.isNaN(value)) samples.push({ name: match[1]!, labels, value });
  }
  return samples;
}

/** Sum of every sample named `name` whose labels include `labels`. */
export function total(samples: readonly Sample[], name: string, labels: Readonly<Record<string, string>> = {}): number {
  let sum = 0;
  for (const sample of samples) {
    if (sample.name !== name) continue;
    if (Object.entries(labels).every(([key, value]) => sample.labels[key] === value)) sum += sample.value;
  }
  return sum;
}

/** A counter's increase between two scrapes; a process that restarted in between counts from zero. */
export function increase(before: number, after: number): number {
  return after >= before ? after - before : after;
}

/** Cumulative bucket counts (upper bound in seconds, count) of one histogram series. */
export function buckets(samples: readonly Sample[], name: string, labels: Readonly<Record<string, string>>): Array<[number, number]> {
  const found: Array<[number, number]> = [];
  for (const sample of samples) {
    if (sample.name !== `${name}_bucket`) continue;
    if (!Object.entries(labels).every(([key, value]) => sample.labels[key] === value)) continue;
    const bound = sample.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(sample.labels.le);
    found.push([bound, sample.value]);
  }
  return found.sort((a, b) => a[0] - b[0]);
}

/** Cumulative bucket counts of the observations made between two scrapes of one histogram series. */
export function bucketIncrease(before: ReadonlyArray<[number, number]>, after: ReadonlyArray<[number, number]>): Array<[number, number]> {
  return after.map(([bound, count]): [number, number] => [bound, increase(before.find(([other]) => other === bound)?.[1] ?? 0, count)]);
}

/** Bucket counts of several series (several frontends) added bound by bound. */
export function addBuckets(series: ReadonlyArray<ReadonlyArray<[number, number]>>): Array<[number, number]> {
  const sums = new Map<number, number>();
  for (const counts of series) for (const [bound, count] of counts) sums.set(bound, (sums.get(bound) ?? 0) + count);
  return [...sums].sort((a, b) => a[0] - b[0]);
}

/**
 * The q-quantile (seconds) of cumulative bucket counts (say, the increase between two scrapes), or
 * null when they hold no observation. Within a bucket the observations are taken as evenly spread;
 * past the last finite bound, the quantile is that bound.
 */
export function quantile(counts: ReadonlyArray<[number, number]>, q: number): number | null {
  const observed = counts.at(-1)?.[1] ?? 0;
  if (observed <= 0) return null;
  const rank = q * observed;
  let lower = 0;
  let below = 0;
  for (const [bound, cumulative] of counts) {
    if (cumulative >= rank) {
      if (bound === Number.POSITIVE_INFINITY) return lower;
      const inBucket = cumulative - below;
      return inBucket <= 0 ? bound : lower + (bound - lower) * ((rank - below) / inBucket);
    }
    lower = bound;
    below = cumulative;
  }
  return lower;
}
