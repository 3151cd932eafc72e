// G4 after any crash sequence: every trade the catalog applied must be an order in the log. One that
// is not (its leader and its frontend died between the catalog trade and the commit, and nobody
// retried) is placed by the serving leader under its key; the catalog does not apply it again.
// A client of the machine: it sees the leader only through `ReconcileHost`, runs on its ticks, and
// each of its steps is resumed by an outcome (`resume`), its progress kept in fields.
//
// Each pass starts where the checked prefix ends: the trades before it all have committed orders
// (durable in the state, so a later epoch starts there too, and a long history is not read again at
// every election). A trade whose order is in flight or not yet committed ends the prefix; the next
// pass looks at it again. Keys in flight are left to the request that carries them.
import assert from 'node:assert/strict';
import { REPLICATION_BATCH_ENTRIES_MAX } from '../../core/limits.ts';
import type { KeyedTrade } from '../../core/trade.ts';
import type { Outcome } from './messages.ts';

/** What the reconciler may see and do of the leader's epoch. Each call that starts I/O is answered through `Reconciler.resume`. */
export interface ReconcileHost {
  /** False once the epoch ended: the reconciler stops. */
  active(): boolean;
  /** Catalog trades before this position all have committed orders. */
  reconciled(): number;
  commitLength(): number;
  numberForKey(key: string): number | undefined;
  inFlight(key: string): boolean;
  /** Places the order for a trade; resumes with its number once it is committed (or failed). */
  place(trade: KeyedTrade, reconciler: Reconciler): void;
  /** The catalog's applied trades in journal order, from `from`, at most `limit`; resumes with them. */
  readTrades(from: number, limit: number, reconciler: Reconciler): void;
  /** Durably records the checked prefix; resumes once it is saved. */
  saveReconciled(checked: number, reconciler: Reconciler): void;
  note(message: string): void;
}

export class Reconciler {
  private readonly host: ReconcileHost;
  private readonly intervalTicks: number;
  private nextAt = 0;
  private now = 0;
  /** The step a pass waits for; undefined between passes. */
  awaiting: 'read' | 'place' | 'save' | undefined;
  /** Catalog positions before `checked` have committed orders; `cursor` is the next to look at. */
  private checked = 0;
  private cursor = 0;
  /** The batch being looked at, and the next index in it. */
  private trades: readonly KeyedTrade[] = [];
  private index = 0;

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
    if (this.awaiting === undefined && now >= this.nextAt && this.host.active()) this.pass();
  }

  /** The outcome of the step it waits for. */
  resume(outcome: Outcome<unknown>): void {
    const step = this.awaiting;
    assert.ok(step !== undefined, 'the reconciler resumes only a step it started');
    if (!this.host.active()) return this.finish();
    if (!outcome.ok) return this.paused(outcome.error);
    if (step === 'read') {
      this.trades = outcome.value as KeyedTrade[];
      this.index = 0;
      return this.next();
    }
    if (step === 'place') {
      const number = outcome.value as number;
      this.host.note(`reconciled: the catalog had applied ${this.trades[this.index - 1]!.key} with no order logged; it is order ${number}`);
      this.counted(number);
      return this.next();
    }
    this.finish();
  }

  private pass(): void {
    this.checked = this.host.reconciled();
    this.cursor = this.checked;
    this.read();
  }

  private read(): void {
    this.awaiting = 'read';
    this.host.readTrades(this.cursor, REPLICATION_BATCH_ENTRIES_MAX, this);
  }

  private next(): void {
    while (this.index < this.trades.length) {
      const trade = this.trades[this.index]!;
      this.index += 1;
      const number = this.host.numberForKey(trade.key);
      if (number === undefined && !this.host.inFlight(trade.key)) {
        this.awaiting = 'place';
        this.host.place(trade, this);
        return;
      }
      this.counted(number);
    }
    if (this.trades.length < REPLICATION_BATCH_ENTRIES_MAX) this.save();
    else this.read();
  }

  private counted(number: number | undefined): void {
    if (this.checked === this.cursor && number !== undefined && number < this.host.commitLength()) this.checked += 1;
    this.cursor += 1;
  }

  private save(): void {
    if (this.checked <= this.host.reconciled() || !this.host.active()) return this.finish();
    this.awaiting = 'save';
    this.host.saveReconciled(this.checked, this);
  }

  private paused(error: Error): void {
    if (this.host.active()) this.host.note(`reconciliation with the catalog paused: ${error.message}`);
    this.finish();
  }

  private finish(): void {
    this.awaiting = undefined;
    this.trades = [];
    this.nextAt = this.now + this.intervalTicks;
  }
}
