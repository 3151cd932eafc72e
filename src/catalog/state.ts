// The catalog as state derived from the order log (etcd-io/raft's "applied" state machine): the
// initial stock list plus every committed order, applied once, in number order. The leader feeds it
// committed entries (`apply`); it can always be rebuilt from the log, from a checkpoint or from
// nothing, so losing its disk costs time, never correctness.
//
// Before an order is logged the leader asks for an approval (`approve`): the stock exists and a buy
// leaves enough. An approval is a reservation in memory, not a change: lookups show committed state
// only (G8), and a buy is checked against the committed quantity less every reserved buy, so any
// subset of the reservations can commit without a quantity going below zero.
//
// Fences, so nothing slips through a restart of either side:
// - epochs: an approval or apply from an epoch older than one seen is refused (a deposed leader);
//   reservations of older epochs are dropped once the new epoch's starting log is applied (every
//   entry of theirs that can still commit is in it);
// - incarnations: each start of the catalog has a new one, on every reply. An approval asked of an
//   incarnation the leader does not name is answered "restarted" and nothing is reserved: the leader
//   then names this one and where its approvals from it begin (`since`); every entry before that is
//   in the leader's log already, and this incarnation approves nothing until it has applied them all.
//
// A stock's version is one more than the number of the last committed order on it (0: none yet). It
// is a function of the committed log, so it names one state, and a rebuilt catalog has the same ones.
//
// A pure machine: no I/O, no clock. store.ts drives it (checkpoints, waiting lookups); the replica
// simulator (test/helpers/simulator.ts) drives it with crashes and lost disks.
import type { StockSeed } from '../core/config.ts';
import { BazaarError } from '../core/errors.ts';
import { type KeyedTrade, type OrderEntry, quoteForMessage, sameTrade, type Stock } from '../core/trade.ts';
import type { ApplyReply, ApplyRequest, Approval, ApproveRequest } from '../protocol/catalog.ts';

export interface StockState {
  readonly name: string;
  readonly price: number;
  quantity: number;
  volume: number;
  version: number;
}

/** What a checkpoint holds: the state through order `applied` (exclusive), and the last entry applied. */
export interface Checkpoint {
  readonly applied: number;
  readonly last: { readonly number: number; readonly key: string } | null;
  readonly stocks: readonly StockState[];
}

interface Reservation {
  readonly trade: KeyedTrade;
  readonly epoch: number;
}

export class CatalogState {
  readonly incarnation: string;
  private readonly seeds: readonly StockSeed[];
  private stocks = new Map<string, StockState>();
  /** Orders before this number are applied. */
  applied = 0;
  last: { number: number; key: string } | null = null;
  /** The newest leader epoch heard of, and its starting log. */
  epoch = 0;
  private epochStart = 0;
  /** The highest commit point a leader has told this incarnation of. */
  committedKnown = 0;
  /** Level, at least once in this life, with the log of a leader that names this incarnation: lookups are served. */
  ready = false;
  readonly reservations = new Map<string, Reservation>();
  /** Reserved buys per stock: what a new buy must leave room for. */
  private readonly reservedBuys = new Map<string, number>();
  /** Orders applied whose trade would have taken a quantity below zero (a broken fence); never expected. */
  violations = 0;
  /** The state was reset to the initial list because the checkpoint did not belong to this log. */
  resets = 0;

  constructor(seeds: readonly StockSeed[], incarnation: string, checkpoint?: Checkpoint) {
    this.seeds = seeds;
    this.incarnation = incarnation;
    this.reset();
    if (checkpoint !== undefined) this.restore(checkpoint);
  }

  private reset(): void {
    this.stocks = new Map(this.seeds.map((seed) => [seed.name, { name: seed.name, price: seed.price, quantity: seed.quantity, volume: 0, version: 0 }]));
    this.applied = 0;
    this.last = null;
  }

  private restore(checkpoint: Checkpoint): void {
    const names = new Set(checkpoint.stocks.map((stock) => stock.name));
    const missing = this.seeds.filter((seed) => !names.has(seed.name));
    // A checkpoint made with another stock list cannot be trusted for this one: rebuild from the log.
    if (missing.length > 0 || checkpoint.stocks.some((stock) => !this.stocks.has(stock.name))) return;
    for (const stock of checkpoint.stocks) this.stocks.set(stock.name, { ...stock, price: this.stocks.get(stock.name)!.price });
    this.applied = checkpoint.applied;
    this.last = checkpoint.last;
  }

  checkpoint(): Checkpoint {
    return { applied: this.applied, last: this.last, stocks: [...this.stocks.values()].map((stock) => ({ ...stock })) };
  }

  lookup(name: string): { stock: Stock; version: number } | undefined {
    const stock = this.stocks.get(name);
    if (stock === undefined) return undefined;
    const { version, ...fields } = stock;
    return { stock: fields, version };
  }

  list(): Stock[] {
    return [...this.stocks.values()].map(({ version: _version, ...stock }) => stock);
  }

  versions(): Array<{ name: string; version: number }> {
    return [...this.stocks.values()].map((stock) => ({ name: stock.name, version: stock.version }));
  }

  has(name: string): boolean {
    return this.stocks.has(name);
  }

  /** Keys reserved on a stock: a lookup of it waits for their fate (G5: one of them may be acknowledged already). */
  reservedOn(name: string): string[] {
    return [...this.reservations].filter(([, reservation]) => reservation.trade.name === name).map(([key]) => key);
  }

  /** Refuses a deposed leader; takes a newer epoch. */
  private fence(epoch: number, startLength: number): void {
    if (epoch < this.epoch) throw new BazaarError('STALE_EPOCH', `epoch ${epoch} is over: the catalog has heard from epoch ${this.epoch}`);
    if (epoch > this.epoch) {
      this.epoch = epoch;
      this.epochStart = startLength;
    }
    this.dropOlder();
  }

  /** Once the newest epoch's starting log is applied, reservations of older epochs can never commit. */
  private dropOlder(): void {
    if (this.applied < this.epochStart) return;
    for (const [key, reservation] of this.reservations) if (reservation.epoch < this.epoch) this.release(key);
  }

  private release(key: string): void {
    const reservation = this.reservations.get(key);
    if (reservation === undefined) return;
    this.reservations.delete(key);
    if (reservation.trade.type === 'buy') {
      const left = (this.reservedBuys.get(reservation.trade.name) ?? 0) - reservation.trade.quantity;
      if (left > 0) this.reservedBuys.set(reservation.trade.name, left);
      else this.reservedBuys.delete(reservation.trade.name);
    }
  }

  /** A buy may take what is committed less what is reserved. */
  available(name: string): number {
    return (this.stocks.get(name)?.quantity ?? 0) - (this.reservedBuys.get(name) ?? 0);
  }

  approve(request: ApproveRequest): Approval {
    const { trade } = request;
    this.fence(request.epoch, request.startLength);
    if (request.incarnation !== null && request.incarnation !== this.incarnation) return { status: 'restarted', incarnation: this.incarnation };
    if (this.applied < Math.max(request.since, request.startLength)) return { status: 'behind', incarnation: this.incarnation };
    const previous = this.reservations.get(trade.key);
    if (previous !== undefined) {
      if (!sameTrade(previous.trade, trade)) throw new BazaarError('IDEMPOTENCY_KEY_REUSED', `idempotency key ${quoteForMessage(trade.key)} was already used for a different trade`);
      return { status: 'approved', incarnation: this.incarnation };
    }
    if (!this.stocks.has(trade.name)) throw new BazaarError('STOCK_NOT_FOUND', `no stock named ${quoteForMessage(trade.name)}`);
    if (trade.type === 'buy') {
      const available = this.available(trade.name);
      if (available < trade.quantity) throw new BazaarError('INSUFFICIENT_QUANTITY', `cannot buy ${trade.quantity} of ${trade.name}: only ${Math.max(0, available)} available`);
      this.reservedBuys.set(trade.name, (this.reservedBuys.get(trade.name) ?? 0) + trade.quantity);
    }
    this.reservations.set(trade.key, { trade, epoch: request.epoch });
    return { status: 'approved', incarnation: this.incarnation };
  }

  /** Applies committed entries in number order; answers where the next message should start. */
  apply(request: ApplyRequest): ApplyReply {
    this.fence(request.epoch, request.startLength);
    this.committedKnown = Math.max(this.committedKnown, request.commitLength);
    // A checkpoint ahead of the log, or one whose last entry the log does not hold, was made from
    // another log (the order logs were replaced): the log is the truth, so start again from it.
    const mismatch =
      request.commitLength < this.applied ||
      (request.from === this.applied && this.last !== null && (request.prev === null || request.prev.number !== this.last.number || request.prev.key !== this.last.key));
    if (mismatch) {
      this.resets += 1;
      this.reset();
    }
    if (request.from === this.applied) {
      for (const entry of request.entries) this.applyEntry(entry);
    }
    this.dropOlder();
    // Ready to serve lookups once it holds every entry that may be acknowledged without it: a leader
    // that names this incarnation has had every entry from `since` on approved here (reserved, or
    // applied), and every entry before it is applied. A message that names no incarnation, or an
    // older one, was sent before the leader knew of this one; the entries it misses may be acknowledged.
    if (!this.ready && request.incarnation === this.incarnation && request.epoch === this.epoch && this.applied >= Math.max(request.since, request.commitLength)) this.ready = true;
    return { incarnation: this.incarnation, applied: this.applied };
  }

  private applyEntry(entry: OrderEntry): void {
    if (entry.number !== this.applied) throw new BazaarError('BAD_REQUEST', `committed entries must come in number order: expected ${this.applied}, got ${entry.number}`);
    const stock = this.stocks.get(entry.name);
    if (stock !== undefined) {
      const quantity = stock.quantity + (entry.type === 'buy' ? -entry.quantity : entry.quantity);
      if (quantity < 0) this.violations += 1;
      stock.quantity = quantity;
      stock.volume += entry.quantity;
      stock.version = entry.number + 1;
    } else {
      // The order log is the truth; a stock missing from this list is a config that does not match it.
      this.violations += 1;
    }
    this.release(entry.key);
    this.applied = entry.number + 1;
    this.last = { number: entry.number, key: entry.key };
  }
}
