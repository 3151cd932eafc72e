// A minimal Prometheus text registry: counters with labels, enough for request counts and timings.

type Labels = Readonly<Record<string, string>>;

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([key, value]) => `${key}="${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

export class Metrics {
  private readonly help = new Map<string, { type: 'counter' | 'gauge'; text: string }>();
  private readonly values = new Map<string, Map<string, number>>();
  private readonly gauges = new Map<string, () => number>();

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

  /** Requests answered and the time they took, by route (and status): what each role's server reports after every reply. */
  requests(prefix: string, secondsNote = ''): (route: string, status: number, durationMs: number) => void {
    const count = this.counter(`${prefix}_requests_total`, 'Requests answered, by route and status.');
    const seconds = this.counter(`${prefix}_request_seconds_total`, `Time spent answering requests, by route${secondsNote}.`);
    return (route, status, durationMs) => {
      count({ route, status: String(status) });
      seconds({ route }, durationMs / 1000);
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

  render(): string {
    const lines: string[] = [];
    for (const [name, { type, text }] of this.help) {
      lines.push(`# HELP ${name} ${text}`, `# TYPE ${name} ${type}`);
      const read = this.gauges.get(name);
      if (read !== undefined) lines.push(`${name} ${read()}`);
      for (const [labels, value] of this.values.get(name) ?? []) lines.push(`${name}${labels} ${value}`);
    }
    return `${lines.join('\n')}\n`;
  }
}
