// The catalog's state: every stock's price, quantity and volume. It is the initial stock list plus a
// journal of applied trades (JSONL, group-committed with fdatasync, indexed by key on disk); a trade
// is acknowledged only once its journal line is on disk, and a key is applied at most once, across
// restarts too. Memory holds the stocks and the trades being written, not the journal.
import assert from 'node:assert/strict';
import type { StockSeed } from '../core/config.ts';
import { BazaarError } from '../core/errors.ts';
import { Journal } from '../storage/journal.ts';
import type { Log } from '../storage/log.ts';
import { type KeyedTrade, type Stock, quoteForMessage, sameTrade } from '../core/trade.ts';

/** One journal line: the trade and its position in the journal. */
export interface JournalEntry extends KeyedTrade {
  readonly seq: number;
}

export interface TradeOutcome {
  /** False when the key had been applied before and this call changed nothing. */
  readonly applied: boolean;
  readonly stock: Stock;
  /** The stock's version after the trade: how many trades it has seen. */
  readonly version: number;
}

interface MutableStock {
  name: string;
  price: number;
  quantity: number;
  volume: number;
  /** Trades applied to this stock; caches use it to refuse anything older than what they have seen. */
  version: number;
}

function parseJournalEntry(record: unknown, index: number, file: string): JournalEntry {
  const entry = record as Partial<JournalEntry> | null;
  const valid =
    entry !== null &&
    typeof entry === 'object' &&
    entry.seq === index &&
    typeof entry.key === 'string' &&
    typeof entry.name === 'string' &&
    (entry.type === 'buy' || entry.type === 'sell') &&
    Number.isInteger(entry.quantity) &&
    (entry.quantity ?? 0) > 0;
  if (!valid) throw new Error(`${file}: journal line ${index + 1} is not a valid trade with seq ${index}`);
  const { seq, key, name, type, quantity } = entry as JournalEntry;
  return { seq, key, name, type, quantity };
}

function applyTrade(stock: MutableStock, trade: KeyedTrade): void {
  const delta = trade.type === 'buy' ? -trade.quantity : trade.quantity;
  stock.quantity += delta;
  stock.volume += trade.quantity;
  stock.version += 1;
  assert.ok(stock.quantity >= 0, `quantity of ${stock.name} must never go below zero`);
}

export class CatalogStore {
  /** What lookups see: only trades whose journal line is on disk. */
  private readonly committed: Map<string, MutableStock>;
  /** What new trades are checked against: committed plus trades waiting for their fsync. */
  private readonly working = new Map<string, MutableStock>();
  /** Keys of trades waiting for their fsync; once durable, the journal finds a key on disk. */
  private readonly writing = new Map<string, { trade: KeyedTrade; durable: Promise<void> }>();
  private readonly journal: Log<JournalEntry>;
  private nextSeq: number;
  /** Trades whose journal line is on disk. */
  private committedSeq: number;

  private constructor(journal: Log<JournalEntry>, committed: Map<string, MutableStock>) {
    this.journal = journal;
    this.committed = committed;
    for (const stock of committed.values()) this.working.set(stock.name, { ...stock });
    this.nextSeq = journal.length;
    this.committedSeq = journal.length;
  }

  static async open(journalPath: string, seeds: readonly StockSeed[], onLockLost: (error: Error) => void): Promise<CatalogStore> {
    const stocks = new Map<string, MutableStock>();
    for (const seed of seeds) stocks.set(seed.name, { name: seed.name, price: seed.price, quantity: seed.quantity, volume: 0, version: 0 });
    const { journal } = await Journal.open<JournalEntry>(journalPath, onLockLost, {
      parse: (record, seq) => parseJournalEntry(record, seq, journalPath),
      numberOf: (entry) => entry.seq,
      replay: (entry) => {
        const stock = stocks.get(entry.name);
        if (stock === undefined) {
          throw new Error(`${journalPath}: trade ${entry.seq} is for ${entry.name}, which is not in the stock list; restore the stock list it was made with`);
        }
        applyTrade(stock, entry);
      },
    });
    return new CatalogStore(journal, stocks);
  }

  /** Trades whose journal line is on disk. */
  get committedCount(): number {
    return this.committedSeq;
  }

  lookup(name: string): { stock: Stock; version: number } | undefined {
    const stock = this.committed.get(name);
    if (stock === undefined) return undefined;
    const { version, ...fields } = stock;
    return { stock: fields, version };
  }

  list(): Stock[] {
    return [...this.committed.values()].map(({ version: _version, ...stock }) => stock);
  }

  /** Committed trades from `from` on, at most `limit`: what order leaders reconcile their logs against. */
  trades(from: number, limit: number): JournalEntry[] {
    return this.journal.readRange(from, Math.min(from + limit, this.committedSeq));
  }

  /** Every stock's current version. */
  versions(): Array<{ name: string; version: number }> {
    return [...this.committed.values()].map((stock) => ({ name: stock.name, version: stock.version }));
  }

  /** The trade a key was applied with, and when it is (or was) durable; undefined for a new key. */
  private previous(key: string): { trade: KeyedTrade; durable: Promise<void> } | undefined {
    const writing = this.writing.get(key);
    if (writing !== undefined) return writing;
    const seq = this.journal.find(key);
    return seq === undefined ? undefined : { trade: this.journal.read(seq)!, durable: Promise.resolve() };
  }

  /**
   * Applies a trade once per key and resolves when it is durable. A repeated key with the same trade
   * changes nothing and reports `applied: false`; with a different trade it is refused.
   */
  async trade(trade: KeyedTrade): Promise<TradeOutcome> {
    if (this.journal.failed !== undefined) throw this.journal.failed;
    const previous = this.previous(trade.key);
    if (previous !== undefined) {
      if (!sameTrade(previous.trade, trade)) {
        throw new BazaarError('IDEMPOTENCY_KEY_REUSED', `idempotency key ${quoteForMessage(trade.key)} was already used for a different trade`);
      }
      await previous.durable;
      return { applied: false, ...this.lookup(trade.name)! };
    }
    const working = this.working.get(trade.name);
    if (working === undefined) throw new BazaarError('STOCK_NOT_FOUND', `no stock named ${quoteForMessage(trade.name)}`);
    if (trade.type === 'buy' && working.quantity < trade.quantity) {
      throw new BazaarError(
        'INSUFFICIENT_QUANTITY',
        `cannot buy ${trade.quantity} of ${trade.name}: only ${working.quantity} available`,
      );
    }
    const entry: JournalEntry = { seq: this.nextSeq, key: trade.key, name: trade.name, type: trade.type, quantity: trade.quantity };
    this.nextSeq += 1;
    applyTrade(working, entry);
    const durable = this.journal.append([entry]);
    this.writing.set(trade.key, { trade: entry, durable });
    // If the write fails, the working state is ahead of the disk for good; the journal refuses every
    // later append too, so nothing is ever acknowledged on top of the lost trade.
    try {
      await durable;
    } finally {
      if (this.journal.failed === undefined) this.writing.delete(trade.key);
    }
    applyTrade(this.committed.get(trade.name)!, entry);
    // Journal lines become durable in seq order, so every trade before this one is committed too.
    this.committedSeq = Math.max(this.committedSeq, entry.seq + 1);
    return { applied: true, ...this.lookup(trade.name)! };
  }

  close(): Promise<void> {
    return this.journal.close();
  }
}
