// G4 after any crash sequence: every trade the catalog applied must be an order in the log. One that
// is not (its leader and its frontend died between the catalog trade and the commit, and nobody
// retried) is placed by the serving leader under its key; the catalog does not apply it again.
// A client of the core: it sees the leader only through `ReconcileHost`, and runs on its ticks.
//
// Each pass starts where the checked prefix ends: the trades before it all have committed orders
// (durable in the state, so a later term starts there too, and a long history is not read again at
// every election). A trade whose order is in flight or not yet committed ends the prefix; the next
// pass looks at it again. Keys in flight are left to the request that carries them.
import { REPLICATION_BATCH_ENTRIES_MAX } from '../core/limits.ts';
import type { KeyedTrade } from '../core/trade.ts';
import type { Outcome } from './core.ts';

/** What the reconciler may see and do of the leader's term. */
export interface ReconcileHost {
  /** False once the term ended: the reconciler stops. */
  active(): boolean;
  /** Catalog trades before this position all have committed orders. */
  reconciled(): number;
  commitLength(): number;
  numberForKey(key: string): number | undefined;
  inFlight(key: string): boolean;
  /** Places the order for a trade; `done` once it is committed (or failed). */
  place(trade: KeyedTrade, done: (outcome: Outcome<number>) => void): void;
  /** The catalog's applied trades in journal order, from `from`, at most `limit`. */
  readTrades(from: number, limit: number, done: (outcome: Outcome<KeyedTrade[]>) => void): void;
  /** Durably records the checked prefix. */
  saveReconciled(checked: number, done: (error?: Error) => void): void;
  note(message: string): void;
}

export class Reconciler {
  private readonly host: ReconcileHost;
  private readonly intervalTicks: number;
  private running = false;
  private nextAt = 0;
  private now = 0;

  constructor(host: ReconcileHost, intervalTicks: number) {
    this.host = host;
    this.intervalTicks = intervalTicks;
  }

  /** Runs the first pass now. */
  start(now: number): void {
    this.now = now;
    this.pass();
  }

  tick(now: number): void {
    this.now = now;
    if (!this.running && now >= this.nextAt && this.host.active()) this.pass();
  }

  private pass(): void {
    this.running = true;
    let checked = this.host.reconciled();
    let cursor = checked;
    const finish = (): void => {
      this.running = false;
      this.nextAt = this.now + this.intervalTicks;
    };
    const paused = (error: Error): void => {
      if (this.host.active()) this.host.note(`reconciliation with the catalog paused: ${error.message}`);
      finish();
    };
    const counted = (number: number | undefined): void => {
      if (checked === cursor && number !== undefined && number < this.host.commitLength()) checked += 1;
      cursor += 1;
    };
    const save = (): void => {
      if (checked <= this.host.reconciled() || !this.host.active()) return finish();
      this.host.saveReconciled(checked, (error) => (error === undefined ? finish() : paused(error)));
    };
    const read = (): void => {
      this.host.readTrades(cursor, REPLICATION_BATCH_ENTRIES_MAX, (outcome) => {
        if (!this.host.active()) return finish();
        if (!outcome.ok) return paused(outcome.error);
        const trades = outcome.value;
        let index = 0;
        const next = (): void => {
          while (index < trades.length) {
            const trade = trades[index]!;
            index += 1;
            const number = this.host.numberForKey(trade.key);
            if (number === undefined && !this.host.inFlight(trade.key)) {
              this.host.place(trade, (placed) => {
                if (!this.host.active()) return finish();
                if (!placed.ok) return paused(placed.error);
                this.host.note(`reconciled: the catalog had applied ${trade.key} with no order logged; it is order ${placed.value}`);
                counted(placed.value);
                next();
              });
              return;
            }
            counted(number);
          }
          if (trades.length < REPLICATION_BATCH_ENTRIES_MAX) save();
          else read();
        };
        next();
      });
    };
    read();
  }
}
