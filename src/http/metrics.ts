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
