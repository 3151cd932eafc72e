// What the page can do to the cluster, each through the same paths an operator uses: a replica's
// token-protected crash endpoint (`bazaar admin crash`), the local `bazaar up`'s control socket
// (recover, hang), and the real `bazaar client` code for a load. Every outcome, failures included,
// becomes a timeline event; a failure is also the action's error reply.
import * as admin from '../admin/index.ts';
import * as client from '../client/index.ts';
import { baseUrl, type Config, replicaName } from '../core/config.ts';
import type { Dialer } from '../http/dial.ts';
import type { ClientTls } from '../tls/client.ts';
import { BazaarError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { LoadRequest, LoadState, Snapshot, TimelineEvent } from '../protocol/dashboard.ts';
import { hangRole } from '../protocol/control.ts';

export class Actions {
  private readonly config: Config;
  private readonly dialer: Dialer;
  /** Whom its load's client trusts for https frontends. */
  private readonly loadTls: ClientTls | undefined;
  private readonly logger: Logger;
  private readonly note: (event: TimelineEvent) => void;
  private readonly latest: () => Snapshot | undefined;
  private load: LoadState = { running: false, request: null, startedAt: null, report: null, error: null };
  private readonly loadListeners = new Set<(state: LoadState) => void>();
  private running: Promise<void> | undefined;
  private readonly stopLoad = new AbortController();

  constructor(config: Config, logger: Logger, dialer: Dialer, loadTls: ClientTls | undefined, note: (event: TimelineEvent) => void, latest: () => Snapshot | undefined) {
    this.config = config;
    this.dialer = dialer;
    this.loadTls = loadTls;
    this.logger = logger;
    this.note = note;
    this.latest = latest;
  }

  loadState(): LoadState {
    return this.load;
  }

  onLoad(listener: (state: LoadState) => void): () => void {
    this.loadListeners.add(listener);
    return () => this.loadListeners.delete(listener);
  }

  /** Runs one action, noting its outcome on the timeline either way. */
  private async act<T>(what: string, work: () => Promise<T>, done: (value: T) => string): Promise<T> {
    try {
      const value = await work();
      this.note({ at: Date.now(), kind: 'action', text: done(value) });
      return value;
    } catch (error) {
      const message = `${what} failed: ${(error as Error).message}`;
      this.logger.warn(`dashboard: ${message}`);
      this.note({ at: Date.now(), kind: 'action', text: message, failed: true });
      throw error instanceof BazaarError ? new BazaarError(error.code, message) : new BazaarError('UPSTREAM_BAD_REPLY', message);
    }
  }

  /** The serving leader as last sampled: where "crash leader" and "hang leader" aim. */
  private leader(): number {
    const snapshot = this.latest();
    const leader = snapshot?.replicas.find((replica) => replica.sync === 'leader')?.id ?? snapshot?.frontend.leader ?? null;
    if (leader === null) throw new BazaarError('UPSTREAM_UNAVAILABLE', 'no replica leads right now', { retryAfterS: 1 });
    return leader;
  }

  crash(id: number): Promise<{ id: number }> {
    return this.act(`crash of order replica ${id}`, async () => {
      if (this.latest()?.replicas.find((replica) => replica.id === id)?.up === false) throw new BazaarError('BAD_REQUEST', `order replica ${id} is down already`);
      await admin.crash(this.config, id, this.dialer);
      return { id };
    }, () => `crashed order replica ${id} (SIGKILL)`);
  }

  crashLeader(): Promise<{ id: number }> {
    return this.act('crash of the leader', async () => {
      const id = this.leader();
      await admin.crash(this.config, id, this.dialer);
      return { id };
    }, ({ id }) => `crashed the leader, order replica ${id} (SIGKILL)`);
  }

  recover(id: number): Promise<{ id: number; pid: number }> {
    return this.act(`recovery of order replica ${id}`, async () => ({ id, pid: await admin.recover(this.config, id) }), ({ pid }) => `recovered order replica ${id} (pid ${pid})`);
  }

  hangLeader(seconds: number): Promise<{ id: number; pid: number }> {
    return this.act('hang of the leader', async () => {
      const id = this.leader();
      return { id, pid: await hangRole(this.config, replicaName(id), Math.round(seconds * 1000)) };
    }, ({ id, pid }) => `hung the leader, order replica ${id} (pid ${pid}), for ${seconds} s (SIGSTOP, then SIGCONT)`);
  }

  /** Starts a load in the background; refused while one runs. */
  startLoad(request: LoadRequest): LoadState {
    if (this.load.running) throw new BazaarError('BUSY', 'a load is running already; wait for its result');
    this.setLoad({ running: true, request, startedAt: Date.now(), report: null, error: null });
    this.note({ at: Date.now(), kind: 'load', text: `load started: ${request.sessions} sessions × ${request.iterations} iterations, p = ${request.p}` });
    this.running = client
      .run({
        frontend: this.config.frontends.map((endpoint) => baseUrl(endpoint)),
        tls: this.loadTls,
        p: request.p,
        iterations: request.iterations,
        clients: request.sessions,
        seed: Math.floor(Math.random() * 2 ** 32),
        stocks: this.config.catalog.stocks.map((stock) => stock.name),
        signal: this.stopLoad.signal,
      })
      .then(
        (report) => {
          const trade = report.latency.trade;
          this.note({
            at: Date.now(),
            kind: 'load',
            text: `load ended: ${report.orders_placed} orders, ${report.errors} errors, ${report.mismatches} mismatches in the final check${trade.count > 0 ? `, trade p50 ${trade.p50_ms} ms` : ''}`,
            ...(report.ok ? {} : { failed: true }),
          });
          this.setLoad({ ...this.load, running: false, report });
        },
        (error: unknown) => {
          const message = (error as Error).message;
          this.note({ at: Date.now(), kind: 'load', text: `load failed: ${message}`, failed: true });
          this.setLoad({ ...this.load, running: false, error: message });
        },
      );
    return this.load;
  }

  private setLoad(state: LoadState): void {
    this.load = state;
    for (const listener of this.loadListeners) listener(state);
  }

  /** Ends a running load early (its orders are still verified) and waits for it. */
  async stop(): Promise<void> {
    this.stopLoad.abort();
    await this.running;
  }
}
