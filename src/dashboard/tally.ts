// G4 as a running sum: what the committed order log implies for every stock (quantity and volume),
// counted once per entry as the log grows, and compared with what the catalog holds.
import type { StockSeed } from '../core/config.ts';
import type { Conservation, StockRow } from '../protocol/dashboard.ts';
import type { OrderEntry } from '../core/trade.ts';

export class LogTally {
  /** Entries counted: the log's committed prefix [0, counted). */
  counted = 0;
  private readonly quantity = new Map<string, number>();
  private readonly volume = new Map<string, number>();

  constructor(seeds: readonly StockSeed[]) {
    for (const seed of seeds) {
      this.quantity.set(seed.name, seed.quantity);
      this.volume.set(seed.name, 0);
    }
  }

  /** Counts entries that continue the prefix already counted; others are ignored. */
  add(from: number, entries: readonly OrderEntry[]): void {
    for (const [index, entry] of entries.entries()) {
      if (from + index !== this.counted) continue;
      const sign = entry.type === 'buy' ? -1 : 1;
      this.quantity.set(entry.name, (this.quantity.get(entry.name) ?? 0) + sign * entry.quantity);
      this.volume.set(entry.name, (this.volume.get(entry.name) ?? 0) + entry.quantity);
      this.counted += 1;
    }
  }

  /**
   * The catalog's stocks against the log counted so far. Equal when every stock matches; in flight
   * while the catalog has applied more trades than the counted log holds (orders on their way, or a
   * long log still being counted); otherwise the stocks that differ.
   */
  compare(stocks: readonly StockRow[] | null, catalogTrades: number | null): Conservation {
    if (stocks === null || catalogTrades === null) return { state: 'unknown', orders: this.counted, catalogTrades, differing: [] };
    const differing = stocks.filter((stock) => this.quantity.get(stock.name) !== stock.quantity || this.volume.get(stock.name) !== stock.volume).map((stock) => stock.name);
    const state = differing.length === 0 && catalogTrades === this.counted ? 'equal' : catalogTrades > this.counted ? 'in flight' : 'differs';
    return { state, orders: this.counted, catalogTrades, differing };
  }
}
