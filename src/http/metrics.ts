// A minimal Prometheus text registry: counters with labels, gauges and counters read from a
// function, and histograms of request durations (so p50 and p99 can be estimated from a scrape).
import { REQUEST_DURATION_BUCKETS_S } from '../core/limits.ts';

type Labels = Readonly<Record<string, string>>;

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([key, value]) => `${key}="${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

/** One histogram series: cumulative-at-render bucket counts, their sum and count. */
interface HistogramSeries {
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

export class Metrics {
  private readonly help = new Map<string, { type: 'counter' | 'gauge' | 'histogram'; text: string }>();
  private readonly values = new Map<string, Map<string, number>>();
  private readonly gauges = new Map<string, () => number>();
  private readonly histograms = new Map<string, { bounds: readonly number[]; series: Map<string, HistogramSeries>; observe: (value: string, seconds: number) => void }>();

  counter(name: string, text: string): (labels: Labels, amount?: number) => void {
    this.help.set(name, { type: 'counter', text });
    const series = new Map<string, number>();
    this.values.set(name, series);
    // Label text is built once per distinct set of label values, not once per request.
    const texts = new Map<string, string>();
    return (labels, amount = 1) => {
      const values = Object.values(labels).join('\u0000');
      let key = texts.get(values);
      if (key === undefined) {
        key = labelText(labels);
        texts.set(values, key);
      }
      series.set(key, (series.get(key) ?? 0) + amount);
    };
  }

  /** One series of a counter, resolved once, for a hot path: adding to it allocates nothing. */
  series(name: string, labels: Labels): (amount?: number) => void {
    const series = this.values.get(name);
    if (series === undefined) throw new Error(`no counter named ${name}`);
    const key = labelText(labels);
    return (amount = 1) => {
      series.set(key, (series.get(key) ?? 0) + amount);
    };
  }

  /**
   * A histogram with the given upper bounds (seconds), by one label. Observing finds the bucket by a
   * short linear scan and allocates nothing once the label value has been seen.
   */
  histogram(name: string, text: string, label: string, bounds: readonly number[] = REQUEST_DURATION_BUCKETS_S): (value: string, seconds: number) => void {
    this.help.set(name, { type: 'histogram', text });
    const series = new Map<string, HistogramSeries>();
    const keyed = new Map<string, HistogramSeries>();
    const observe = (value: string, seconds: number): void => {
      let entry = keyed.get(value);
      if (entry === undefined) {
        entry = { counts: new Float64Array(bounds.length + 1), sum: 0, count: 0 };
        keyed.set(value, entry);
        series.set(labelText({ [label]: value }).slice(1, -1), entry);
      }
      let index = 0;
      while (index < bounds.length && seconds > bounds[index]!) index += 1;
      entry.counts[index]! += 1;
      entry.sum += seconds;
      entry.count += 1;
    };
    this.histograms.set(name, { bounds, series, observe });
    return observe;
  }

  /** One series of a histogram, for a hot path. */
  histogramSeries(name: string, value: string): (seconds: number) => void {
    const histogram = this.histograms.get(name);
    if (histogram === undefined) throw new Error(`no histogram named ${name}`);
    const observe = histogram.observe;
    return (seconds) => observe(value, seconds);
  }

  /** Requests answered, by route and status, and how long they took, by route: what each role's server reports after every reply. */
  requests(prefix: string): (route: string, status: number, durationMs: number) => void {
    const count = this.counter(`${prefix}_requests_total`, 'Requests answered, by route and status.');
    const duration = this.histogram(`${prefix}_request_duration_seconds`, 'Time from request in to reply out, by route.', 'route');
    return (route, status, durationMs) => {
      count({ route, status: String(status) });
      duration(route, durationMs / 1000);
    };
  }

  /** Time spent in each stage of a trade, summed, and how many times: mean time per stage is one over the other. */
  stages(prefix: string): (stage: string, durationMs: number) => void {
    const seconds = this.counter(`${prefix}_stage_seconds_total`, 'Time spent in each stage of a trade, by stage.');
    const count = this.counter(`${prefix}_stage_total`, 'Times each stage of a trade ran, by stage.');
    return (stage, durationMs) => {
      seconds({ stage }, durationMs / 1000);
      count({ stage });
    };
  }

  gauge(name: string, text: string, read: () => number): void {
    this.help.set(name, { type: 'gauge', text });
    this.gauges.set(name, read);
  }

  /** A counter whose value another part keeps (cache hits, elections): read at each scrape. */
  counterOf(name: string, text: string, read: () => number): void {
    this.help.set(name, { type: 'counter', text });
    this.gauges.set(name, read);
  }

  render(): string {
    const lines: string[] = [];
    for (const [name, { type, text }] of this.help) {
      lines.push(`# HELP ${name} ${text}`, `# TYPE ${name} ${type}`);
      const read = this.gauges.get(name);
      if (read !== undefined) lines.push(`${name} ${read()}`);
      for (const [labels, value] of this.values.get(name) ?? []) lines.push(`${name}${labels} ${value}`);
      const histogram = this.histograms.get(name);
      if (histogram !== undefined) {
        for (const [labels, entry] of histogram.series) {
          let cumulative = 0;
          for (const [index, bound] of [...histogram.bounds, Number.POSITIVE_INFINITY].entries()) {
            cumulative += entry.counts[index]!;
            lines.push(`${name}_bucket{${labels},le="${bound === Number.POSITIVE_INFINITY ? '+Inf' : bound}"} ${cumulative}`);
          }
          lines.push(`${name}_sum{${labels}} ${entry.sum}`, `${name}_count{${labels}} ${entry.count}`);
        }
      }
    }
    return `${lines.join('\n')}\n`;
  }
}
