// Server push from the catalog to every frontend's cache, made safe against lost, late and reordered
// messages, restarts, and a frontend that hangs:
// - one message in flight per frontend, so they arrive in order; messages are numbered per link
//   (`from` -> `to`), and a frontend whose last `to` is not this `from` missed one and drops its whole
//   cache; a link's first message (`from` -1) carries every stock's version;
// - each message names every stock changed since the last acknowledged one, with its version;
// - each message grants the frontend a lease (`leaseUntil`, wall clock): it serves from its cache
//   only until then, so an unreachable frontend stops serving cached data on its own;
// - a trade is answered only once every frontend has acknowledged its stock's new version, or that
//   frontend's lease has run out. A dead frontend costs the trades of one lease at most, once.
import { setTimeout as sleep } from 'node:timers/promises';
import { baseUrl, type Endpoint } from '../core/config.ts';
import { CACHE_HEARTBEAT_MS, CACHE_LEASE_MS, INVALIDATION_TIMEOUT_MS } from '../core/limits.ts';
import type { Logger } from '../core/logger.ts';
import { LinkUpstream } from '../link/client.ts';
import { send } from '../http/message.ts';
import { INVALIDATE, type Invalidation, type InvalidationMessage } from '../protocol/push.ts';

/** How a message reaches one frontend; resolves when it acknowledged. */
export type Deliver = (message: InvalidationMessage) => Promise<void>;

export interface InvalidatorOptions {
  /** Every stock's current version, sent whole on a link's first message. */
  readonly versions: () => Invalidation[];
  readonly now?: () => number;
  readonly logger?: Logger;
}

interface Waiter {
  readonly invalidation: Invalidation;
  readonly resolve: () => void;
}

class FrontendLink {
  readonly name: string;
  private readonly deliver: Deliver;
  private readonly options: InvalidatorOptions;
  private readonly now: () => number;
  /** Number of the last acknowledged message; -1 before the first. */
  private acked = -1;
  /** The newest version of each stock the frontend has acknowledged. */
  private readonly acknowledged = new Map<string, number>();
  /** Changes not yet acknowledged, newest version per stock (so bounded by the number of stocks). */
  private readonly pending = new Map<string, number>();
  /** The latest lease this link has granted: the frontend trusts its cache until then at most. */
  private grantedUntil = 0;
  private waiters: Waiter[] = [];
  private wake: () => void = () => {};
  private stopped = false;
  private healthy = true;
  /** Whether this frontend has ever taken a push. */
  private reached = false;

  constructor(name: string, deliver: Deliver, options: InvalidatorOptions) {
    this.name = name;
    this.deliver = deliver;
    this.options = options;
    this.now = options.now ?? Date.now;
    void this.run();
  }

  private isAcknowledged({ name, version }: Invalidation): boolean {
    return (this.acknowledged.get(name) ?? -1) >= version;
  }

  /**
   * Queues the change for the next push, sent now, or with the next heartbeat when `soon` is false;
   * false if the frontend has acknowledged it already.
   */
  send(invalidation: Invalidation, soon = true): boolean {
    if (this.isAcknowledged(invalidation)) return false;
    const known = this.pending.get(invalidation.name);
    if (known === undefined || known < invalidation.version) this.pending.set(invalidation.name, invalidation.version);
    if (soon) this.wake();
    return true;
  }

  /** Resolves once the frontend has acknowledged this version of the stock, or can no longer be serving an older one. */
  published(invalidation: Invalidation): Promise<void> {
    if (!this.send(invalidation)) return Promise.resolve();
    if (this.grantedUntil <= this.now()) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push({ invalidation, resolve });
      // If the frontend never answers, stop waiting when the lease it holds has certainly run out.
      setTimeout(() => this.release(), Math.max(0, this.grantedUntil - this.now()) + 1);
    });
  }

  private release(): void {
    const expired = this.grantedUntil <= this.now();
    this.waiters = this.waiters.filter((waiter) => {
      if (!expired && !this.isAcknowledged(waiter.invalidation)) return true;
      waiter.resolve();
      return false;
    });
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      if (this.pending.size === 0 && this.acked >= 0) {
        // Idle: renew the lease at the heartbeat interval, or sooner when a change comes.
        await Promise.race([
          sleep(CACHE_HEARTBEAT_MS),
          new Promise<void>((resolve) => {
            this.wake = resolve;
          }),
        ]);
        if (this.stopped) return;
      }
      const sent = this.acked < 0 ? this.options.versions() : [...this.pending].map(([name, version]) => ({ name, version }));
      // Only a frontend that answered the last push gets a new lease: retries to one that did not
      // must not extend how long trades wait for it.
      const leaseUntil = this.healthy ? this.now() + CACHE_LEASE_MS : 0;
      const message: InvalidationMessage = { from: this.acked, to: this.acked + 1, invalidations: sent, leaseUntil };
      this.grantedUntil = Math.max(this.grantedUntil, message.leaseUntil);
      try {
        await this.deliver(message);
      } catch (error) {
        // A frontend not reached yet is normal at start (the catalog starts first): not a warning.
        if (this.healthy && this.reached) this.options.logger?.warn(`catalog: frontend ${this.name} did not take an invalidation (${(error as Error).message}); its cache lease runs out by itself`);
        else if (this.healthy) this.options.logger?.info(`catalog: frontend ${this.name} not reached yet (${(error as Error).message}); pushes start when it answers`);
        this.healthy = false;
        this.release();
        await sleep(CACHE_HEARTBEAT_MS);
        continue;
      }
      if (!this.healthy) this.options.logger?.info(`catalog: frontend ${this.name} takes invalidations ${this.reached ? 'again' : ''}`.trimEnd());
      this.healthy = true;
      this.reached = true;
      this.acked = message.to;
      for (const { name, version } of sent) {
        if ((this.acknowledged.get(name) ?? -1) < version) this.acknowledged.set(name, version);
        // Only what this message covered is done: a change queued while it was in flight stays.
        if ((this.pending.get(name) ?? Number.POSITIVE_INFINITY) <= version) this.pending.delete(name);
      }
      this.release();
    }
  }

  close(): void {
    this.stopped = true;
    this.wake();
    for (const waiter of this.waiters.splice(0)) waiter.resolve();
  }
}

export class Invalidator {
  private readonly links: FrontendLink[];

  constructor(targets: ReadonlyArray<{ name: string; deliver: Deliver }>, options: InvalidatorOptions) {
    this.links = targets.map((target) => new FrontendLink(target.name, target.deliver, options));
  }

  /**
   * Resolves once every frontend has dropped its cached copy of the stock, or holds no valid lease;
   * all but `except` (the trade's own frontend, which applies the version from the reply itself).
   * `except` is still sent the change, with its next heartbeat: it needs it only if the reply never
   * reaches it, and a message per trade would cost both roles a write and a read for nothing.
   */
  async published(invalidation: Invalidation, except?: string): Promise<void> {
    await Promise.all(this.links.map((link) => (link.name === except ? link.send(invalidation, false) : link.published(invalidation))));
  }

  close(): void {
    for (const link of this.links) link.close();
  }
}

/** Delivery to a frontend's internal endpoint, on a link. */
export function linkDelivery(frontend: Endpoint, token: string | undefined): { deliver: Deliver; close: () => Promise<void> } {
  const upstream = new LinkUpstream('frontend', baseUrl(frontend), { token });
  return {
    deliver: async (message) => {
      await send(upstream, INVALIDATE, message, 'the frontend refused the push', { timeoutMs: INVALIDATION_TIMEOUT_MS });
    },
    close: () => upstream.close(),
  };
}
