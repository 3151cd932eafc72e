// The dashboard's sampler: reads the cluster every DASHBOARD_SAMPLE_MS while a page watches (every
// DASHBOARD_IDLE_SAMPLE_MS while none does), keeps bounded history
// (chart points and timeline events in rings), and hands each update to the pages that stream it.
// One sample at a time: the next is scheduled when the last is done, so a slow cluster slows the
// dashboard, never piles reads onto it.
import type { Config } from '../core/config.ts';
import type { Dialer } from '../http/dial.ts';
import {
  DASHBOARD_ENTRIES_PER_SAMPLE_MAX,
  DASHBOARD_EVENTS_MAX,
  DASHBOARD_IDLE_SAMPLE_MS,
  DASHBOARD_POINTS_MAX,
  DASHBOARD_SAMPLE_MS,
  REPLICATION_BATCH_ENTRIES_MAX,
} from '../core/limits.ts';
import type { Logger } from '../core/logger.ts';
import type { Hello, LoadState, Point, Snapshot, TimelineEvent, Update } from '../protocol/dashboard.ts';
import { type CatchUp, changes, point, snapshot } from './model.ts';
import { ClusterReader, type Reading } from './reader.ts';
import { Ring } from './ring.ts';
import { LogTally } from './tally.ts';

export class Collector {
  private readonly config: Config;
  private readonly logger: Logger;
  private readonly reader: ClusterReader;
  private readonly tally: LogTally;
  private readonly points = new Ring<Point>(DASHBOARD_POINTS_MAX);
  private readonly events = new Ring<TimelineEvent>(DASHBOARD_EVENTS_MAX);
  private readonly catchUps = new Map<number, CatchUp>();
  private readonly listeners = new Set<(update: Update) => void>();
  /** Events noted between samples (actions from the page), sent with the next update. */
  private pending: TimelineEvent[] = [];
  private last: Reading | undefined;
  private current: Snapshot | undefined;
  private timer: NodeJS.Timeout | undefined;
  private sampling: Promise<void> | undefined;
  private stopped = false;
  loadState: () => LoadState = () => ({ running: false, request: null, startedAt: null, report: null, error: null });

  constructor(config: Config, logger: Logger, dialer: Dialer) {
    this.config = config;
    this.logger = logger;
    this.reader = new ClusterReader(config, dialer);
    this.tally = new LogTally(config.catalog.stocks);
  }

  /** Takes the first sample, then one every DASHBOARD_SAMPLE_MS (or _IDLE_SAMPLE_MS) until `stop`. */
  async start(): Promise<void> {
    await this.sample();
    this.schedule();
  }

  private schedule(delayMs = this.listeners.size > 0 ? DASHBOARD_SAMPLE_MS : DASHBOARD_IDLE_SAMPLE_MS): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.sampling = this.sample().finally(() => this.schedule());
    }, delayMs);
    this.timer.unref();
  }

  /** What a page that just connected needs: the current state and the history kept. */
  hello(): Hello {
    return { snapshot: this.current!, points: this.points.toArray(), events: this.events.toArray(), load: this.loadState() };
  }

  latest(): Snapshot | undefined {
    return this.current;
  }

  subscribe(listener: (update: Update) => void): () => void {
    this.listeners.add(listener);
    // The first watcher: the next sample comes at the watching pace, not after an idle wait.
    if (this.listeners.size === 1 && this.timer !== undefined) this.schedule(DASHBOARD_SAMPLE_MS);
    return () => this.listeners.delete(listener);
  }

  /** An event from outside the readings (an action from the page, a load that ended). */
  note(event: TimelineEvent): void {
    this.pending.push(event);
  }

  private async sample(): Promise<void> {
    let reading: Reading;
    try {
      reading = await this.reader.read();
      await this.count(reading);
    } catch (error) {
      this.logger.warn(`dashboard: a sample failed: ${(error as Error).message}`);
      return;
    }
    const previous = this.last;
    const found = previous === undefined ? [] : changes(this.config, previous, reading, this.catchUps);
    const events = [...this.pending.splice(0), ...found];
    for (const event of events) this.events.push(event);
    const next = previous === undefined ? null : point(previous, reading);
    if (next !== null) this.points.push(next);
    this.last = reading;
    this.current = snapshot(this.config, reading, this.tally.compare(reading.stocks, reading.catalog?.trades ?? null));
    const update: Update = { snapshot: this.current, point: next, events };
    for (const listener of this.listeners) listener(update);
  }

  /** Counts newly committed orders from the serving leader into the tally, a bounded number per sample. */
  private async count(reading: Reading): Promise<void> {
    const leader = reading.replicas.find((replica) => replica.health?.state === 'leader' && replica.health.serving);
    const committed = leader?.health?.commitLength;
    if (leader === undefined || committed === null || committed === undefined) return;
    const until = Math.min(committed, this.tally.counted + DASHBOARD_ENTRIES_PER_SAMPLE_MAX);
    while (this.tally.counted < until) {
      const from = this.tally.counted;
      const entries = await this.reader.entries(leader.id, from, Math.min(REPLICATION_BATCH_ENTRIES_MAX, until - from));
      if (entries.length === 0) return;
      this.tally.add(from, entries.slice(0, until - from));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.sampling;
    await this.reader.close();
  }
}
