// The catalog's side of one frontend's cache lease, as a pure machine: no timer, no promise, no
// clock of its own. Events in (a change, a trade that must wait, the outcome of a delivery, the time
// now), actions out (deliver this message, release these waiting trades). The invalidator
// (invalidator.ts) drives it with the wall clock and real deliveries; the lease simulator
// (test/helpers/lease-world.ts) drives the same class with a simulated clock and a network that
// loses, delays and duplicates.
//
// What makes the pushes safe against lost, late and reordered messages, restarts, and a frontend
// that hangs:
// - one message in flight per frontend; messages are numbered per session (`from` -> `to`), and a
//   frontend whose last `to` is not this `from` missed one and drops its whole cache; a session's
//   first message (`from` -1) carries every stock's version;
// - each message names every stock changed since the last acknowledged one, with its version;
// - each message grants the frontend a lease (`leaseUntil`, the catalog's wall clock): it serves
//   from its cache only until then, so an unreachable frontend stops serving cached data on its own;
// - a trade is released only once the frontend has acknowledged its stock's new version, or the
//   lease this session granted has run out. A dead frontend costs the trades of one lease at most.
import { CACHE_HEARTBEAT_MS, CACHE_LEASE_MS } from '../core/limits.ts';
import type { Invalidation, InvalidationMessage } from '../protocol/push.ts';

export type PushAction =
  | { readonly kind: 'deliver'; readonly message: InvalidationMessage }
  /** These waiting trades may be answered: the frontend has the change, or can no longer serve from before it. */
  | { readonly kind: 'release'; readonly tickets: readonly number[] }
  | { readonly kind: 'note'; readonly level: 'info' | 'warn'; readonly message: string };

interface Waiter {
  readonly invalidation: Invalidation;
  readonly ticket: number;
}

export class PushSession {
  readonly name: string;
  private readonly versions: () => Invalidation[];
  /** Number of the last acknowledged message; -1 before the first. */
  acked = -1;
  /** The newest version of each stock the frontend has acknowledged. */
  readonly acknowledged = new Map<string, number>();
  /** Changes not yet acknowledged, newest version per stock (so bounded by the number of stocks). */
  readonly pending = new Map<string, number>();
  /** The latest lease this session has granted: the frontend trusts its cache until then at most. */
  grantedUntil = 0;
  readonly waiters: Waiter[] = [];
  /**
   * sending: a message is on its way. idle: the next goes at `nextAt` (a heartbeat) or at once on a
   * change. backoff: after a failed delivery, nothing goes before `nextAt`.
   */
  phase: 'sending' | 'idle' | 'backoff' = 'idle';
  /** The message on its way, while sending. */
  inFlight: InvalidationMessage | undefined;
  nextAt = 0;
  /** Whether the frontend answered the last delivery; only then does a message grant a new lease. */
  healthy = true;
  /** Whether this frontend has ever taken a push. */
  reached = false;
  stopped = false;
  private outbox: PushAction[] = [];

  constructor(name: string, versions: () => Invalidation[]) {
    this.name = name;
    this.versions = versions;
  }

  takeActions(): PushAction[] {
    const actions = this.outbox;
    this.outbox = [];
    return actions;
  }

  /** The earliest time something happens without an event: the next message, or a lease running out under a waiting trade. */
  nextWake(): number | undefined {
    if (this.stopped) return undefined;
    const times: number[] = [];
    if (this.phase !== 'sending') times.push(this.nextAt);
    if (this.waiters.length > 0) times.push(this.grantedUntil + 1);
    return times.length === 0 ? undefined : Math.min(...times);
  }

  private isAcknowledged({ name, version }: Invalidation): boolean {
    return (this.acknowledged.get(name) ?? -1) >= version;
  }

  /**
   * Queues the change for the next message: sent now, or with the next heartbeat when `soon` is
   * false; false if the frontend has acknowledged it already.
   */
  change(invalidation: Invalidation, soon: boolean, now: number): boolean {
    if (this.isAcknowledged(invalidation)) return false;
    const known = this.pending.get(invalidation.name);
    if (known === undefined || known < invalidation.version) this.pending.set(invalidation.name, invalidation.version);
    if (soon && this.phase === 'idle') this.deliver(now);
    return true;
  }

  /**
   * A trade's change, which must reach the frontend before the trade is answered: true when it may
   * be answered now; otherwise a `release` with `ticket` follows once it has been acknowledged, or
   * the lease this frontend holds has run out.
   */
  publish(invalidation: Invalidation, ticket: number, now: number): boolean {
    // Whether the frontend can still be serving from before the change is decided by the lease it
    // holds now; the message this change goes out in grants the next one, and carries the change.
    const expired = this.grantedUntil <= now;
    if (!this.change(invalidation, true, now)) return true;
    if (expired) return true;
    this.waiters.push({ invalidation, ticket });
    return false;
  }

  /** Time has passed: leases run out, heartbeats and retries fall due. */
  tick(now: number): void {
    if (this.stopped) return;
    this.release(now);
    if (this.phase === 'sending' || now < this.nextAt) return;
    if (this.phase === 'backoff' && this.pending.size === 0 && this.acked >= 0) {
      this.phase = 'idle';
      this.nextAt = now + CACHE_HEARTBEAT_MS;
      return;
    }
    this.deliver(now);
  }

  /** The outcome of the message in flight. */
  delivered(outcome: { ok: true } | { ok: false; error: Error }, now: number): void {
    const message = this.inFlight;
    if (this.stopped || message === undefined) return;
    this.inFlight = undefined;
    if (!outcome.ok) {
      // A frontend not reached yet is normal at start (the catalog starts first): not a warning.
      if (this.healthy && this.reached) this.note('warn', `catalog: frontend ${this.name} did not take an invalidation (${outcome.error.message}); its cache lease runs out by itself`);
      else if (this.healthy) this.note('info', `catalog: frontend ${this.name} not reached yet (${outcome.error.message}); pushes start when it answers`);
      this.healthy = false;
      this.phase = 'backoff';
      this.nextAt = now + CACHE_HEARTBEAT_MS;
      this.release(now);
      return;
    }
    if (!this.healthy) this.note('info', `catalog: frontend ${this.name} takes invalidations ${this.reached ? 'again' : ''}`.trimEnd());
    this.healthy = true;
    this.reached = true;
    this.acked = message.to;
    for (const { name, version } of message.invalidations) {
      if ((this.acknowledged.get(name) ?? -1) < version) this.acknowledged.set(name, version);
      // Only what this message covered is done: a change queued while it was in flight stays.
      if ((this.pending.get(name) ?? Number.POSITIVE_INFINITY) <= version) this.pending.delete(name);
    }
    this.release(now);
    if (this.pending.size > 0) return this.deliver(now);
    this.phase = 'idle';
    this.nextAt = now + CACHE_HEARTBEAT_MS;
  }

  /** Stops sending; every waiting trade is released. */
  stop(): void {
    this.stopped = true;
    this.releaseAll();
  }

  private deliver(now: number): void {
    const invalidations = this.acked < 0 ? this.versions() : [...this.pending].map(([name, version]) => ({ name, version }));
    // Only a frontend that answered the last push gets a new lease: retries to one that did not
    // must not extend how long trades wait for it.
    const leaseUntil = this.healthy ? now + CACHE_LEASE_MS : 0;
    const message: InvalidationMessage = { from: this.acked, to: this.acked + 1, invalidations, leaseUntil };
    this.grantedUntil = Math.max(this.grantedUntil, leaseUntil);
    this.phase = 'sending';
    this.inFlight = message;
    this.outbox.push({ kind: 'deliver', message });
  }

  private release(now: number): void {
    if (this.waiters.length === 0) return;
    if (this.grantedUntil <= now) return this.releaseAll();
    const tickets: number[] = [];
    for (let index = this.waiters.length - 1; index >= 0; index -= 1) {
      const waiter = this.waiters[index]!;
      if (!this.isAcknowledged(waiter.invalidation)) continue;
      this.waiters.splice(index, 1);
      tickets.push(waiter.ticket);
    }
    if (tickets.length > 0) this.outbox.push({ kind: 'release', tickets });
  }

  private releaseAll(): void {
    if (this.waiters.length === 0) return;
    this.outbox.push({ kind: 'release', tickets: this.waiters.splice(0).map((waiter) => waiter.ticket) });
  }

  private note(level: 'info' | 'warn', message: string): void {
    this.outbox.push({ kind: 'note', level, message });
  }
}
