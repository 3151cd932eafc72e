// The order replica's decisions, apart from HTTP: check the key, have the catalog apply the trade
// (it applies a key once), then append the order to the log. Replication plugs in after the append.
import { BazaarError } from '../core/errors.ts';
import { type KeyedTrade, type OrderEntry, quoteForMessage, sameTrade } from '../core/trade.ts';
import type { OrderLog } from './log.ts';

/** What the replica needs from the catalog. */
export interface CatalogPort {
  /** Applies the trade once per key (a repeat is a no-op) and resolves once it is durable. */
  trade(trade: KeyedTrade): Promise<void>;
}

export interface ReplicaStatus {
  readonly id: number;
  readonly epoch: number;
  /** Number of the last durable order, -1 when the log is empty. */
  readonly lastNumber: number;
  readonly logBytes: number;
}

export class OrderReplica {
  readonly id: number;
  private readonly log: OrderLog;
  private readonly catalog: CatalogPort;
  private readonly epoch = 0;
  /** Trades between their key check and their durable append, by key. */
  private readonly inFlight = new Map<string, { trade: KeyedTrade; number: Promise<number> }>();

  constructor(id: number, log: OrderLog, catalog: CatalogPort) {
    this.id = id;
    this.log = log;
    this.catalog = catalog;
  }

  /** Places an order once per idempotency key and resolves with its transaction number once it is durable. */
  // Async, so that every refusal is a rejection; the body up to the first await still runs in the
  // caller's turn, so the in-flight check and insert cannot interleave with another call.
  async placeOrder(trade: KeyedTrade): Promise<number> {
    const logged = this.log.numberForKey(trade.key);
    if (logged !== undefined) {
      this.assertSameTrade(this.log.entry(logged)!, trade);
      return logged;
    }
    const pending = this.inFlight.get(trade.key);
    if (pending !== undefined) {
      this.assertSameTrade(pending.trade, trade);
      return pending.number;
    }
    const number = this.execute(trade).finally(() => this.inFlight.delete(trade.key));
    this.inFlight.set(trade.key, { trade, number });
    return number;
  }

  private async execute(trade: KeyedTrade): Promise<number> {
    await this.catalog.trade(trade);
    // Taking the number and queueing the append happen in one synchronous step, so log order is
    // number order however the catalog calls interleave.
    const entry: OrderEntry = { number: this.log.nextNumber, epoch: this.epoch, key: trade.key, name: trade.name, type: trade.type, quantity: trade.quantity };
    await this.log.append([entry]);
    return entry.number;
  }

  private assertSameTrade(previous: KeyedTrade, trade: KeyedTrade): void {
    if (!sameTrade(previous, trade)) {
      throw new BazaarError('IDEMPOTENCY_KEY_REUSED', `idempotency key ${quoteForMessage(trade.key)} was already used for a different order`);
    }
  }

  order(number: number): OrderEntry | undefined {
    return this.log.entry(number);
  }

  status(): ReplicaStatus {
    return { id: this.id, epoch: this.epoch, lastNumber: this.log.length - 1, logBytes: this.log.sizeBytes };
  }
}
