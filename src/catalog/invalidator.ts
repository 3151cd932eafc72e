// Server push from the catalog to every frontend's cache: one `PushSession` (push-session.ts, the
// rules) per frontend, driven here with the wall clock, real deliveries and a timer set to the
// session's next wake. A trade's `published` resolves once every other frontend has the change, or
// can no longer serve the stock from before it.
import { INVALIDATION_TIMEOUT_MS } from '../core/limits.ts';
import type { Logger } from '../core/logger.ts';
import { send } from '../http/message.ts';
import type { LinkUpstream } from '../link/client.ts';
import { INVALIDATE, type Invalidation, type InvalidationMessage } from '../protocol/push.ts';
import { PushSession } from './push-session.ts';

/** How a message reaches one frontend; resolves when it acknowledged. */
export type Deliver = (message: InvalidationMessage) => Promise<void>;

export interface InvalidatorOptions {
  /** Every stock's current version, sent whole on a session's first message. */
  readonly versions: () => Invalidation[];
  readonly now?: () => number;
  readonly logger?: Logger;
}

/** One session and what carries it out. */
class SessionDriver {
  readonly session: PushSession;
  private readonly deliver: Deliver;
  private readonly now: () => number;
  private readonly logger: Logger | undefined;
  private readonly released = new Map<number, () => void>();
  private nextTicket = 1;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;

  constructor(name: string, deliver: Deliver, options: InvalidatorOptions) {
    this.session = new PushSession(name, options.versions);
    this.deliver = deliver;
    this.now = options.now ?? Date.now;
    this.logger = options.logger;
    this.session.tick(this.now());
    this.carryOut();
  }

  change(invalidation: Invalidation): void {
    this.session.change(invalidation, false, this.now());
    this.carryOut();
  }

  published(invalidation: Invalidation): Promise<void> {
    const ticket = this.nextTicket;
    this.nextTicket += 1;
    const done = this.session.publish(invalidation, ticket, this.now());
    const waiting = done ? Promise.resolve() : new Promise<void>((resolve) => this.released.set(ticket, resolve));
    this.carryOut();
    return waiting;
  }

  close(): void {
    this.session.stop();
    this.carryOut();
    clearTimeout(this.timer);
  }

  private carryOut(): void {
    for (const action of this.session.takeActions()) {
      switch (action.kind) {
        case 'deliver':
          this.deliver(action.message).then(
            () => this.completed({ ok: true }),
            (error: unknown) => this.completed({ ok: false, error: error instanceof Error ? error : new Error(String(error)) }),
          );
          break;
        case 'release':
          for (const ticket of action.tickets) {
            this.released.get(ticket)?.();
            this.released.delete(ticket);
          }
          break;
        case 'note':
          if (action.level === 'warn') this.logger?.warn(action.message);
          else this.logger?.info(action.message);
          break;
      }
    }
    this.arm();
  }

  private completed(outcome: { ok: true } | { ok: false; error: Error }): void {
    this.session.delivered(outcome, this.now());
    this.carryOut();
  }

  /** One timer, at the session's next wake (a heartbeat, a retry, a lease running out under a waiting trade). */
  private arm(): void {
    const at = this.session.nextWake();
    if (at === undefined || at >= this.timerAt) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timerAt = Number.POSITIVE_INFINITY;
      this.session.tick(this.now());
      this.carryOut();
    }, Math.max(0, at - this.now()));
  }
}

export class Invalidator {
  private readonly drivers: SessionDriver[];

  constructor(targets: ReadonlyArray<{ name: string; deliver: Deliver }>, options: InvalidatorOptions) {
    this.drivers = targets.map((target) => new SessionDriver(target.name, target.deliver, options));
  }

  /**
   * Resolves once every frontend has dropped its cached copy of the stock, or holds no valid lease;
   * all but `except` (the trade's own frontend, which applies the version from the reply itself).
   * `except` is still sent the change, with its next heartbeat: it needs it only if the reply never
   * reaches it, and a message per trade would cost both roles a write and a read for nothing.
   */
  async published(invalidation: Invalidation, except?: string): Promise<void> {
    await Promise.all(this.drivers.map((driver) => (driver.session.name === except ? driver.change(invalidation) : driver.published(invalidation))));
  }

  close(): void {
    for (const driver of this.drivers) driver.close();
  }
}

/** Delivery to a frontend's internal endpoint, on a link. */
export function linkDelivery(upstream: LinkUpstream): { deliver: Deliver; close: () => Promise<void> } {
  return {
    deliver: async (message) => {
      await send(upstream, INVALIDATE, message, 'the frontend refused the push', { timeoutMs: INVALIDATION_TIMEOUT_MS });
    },
    close: () => upstream.close(),
  };
}
