// Checks of the guarantees from outside: what the files and the catalog say after a run.
import { readFile } from 'node:fs/promises';
import assert from 'node:assert/strict';
import type { OrderEntry, Stock } from '../src/core/trade.ts';
import defaultStocks from '../config/stocks.json' with { type: 'json' };
import { http } from './cluster.ts';

export async function readOrderLog(file: string): Promise<OrderEntry[]> {
  const text = await readFile(file, 'utf8');
  return text
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as OrderEntry);
}

export async function catalogStocks(catalogUrl: string, token?: string): Promise<Map<string, Stock>> {
  const reply = await http(`${catalogUrl}/stocks`, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
  assert.equal(reply.status, 200, reply.text);
  return new Map((reply.body as { data: Stock[] }).data.map((stock) => [stock.name, stock]));
}

/**
 * G4: for every stock, quantity = initial - buys + sells over the order log, and volume = all
 * quantities traded; order numbers run from 0 without gaps, and no key appears twice.
 */
export function assertConserved(entries: readonly OrderEntry[], stocks: ReadonlyMap<string, Stock>): void {
  const keys = new Set<string>();
  for (const [index, entry] of entries.entries()) {
    assert.equal(entry.number, index, 'order numbers run from 0 without gaps');
    assert.ok(!keys.has(entry.key), `key ${entry.key} is logged twice`);
    keys.add(entry.key);
  }
  for (const seed of defaultStocks) {
    const trades = entries.filter((entry) => entry.name === seed.name);
    const expectedQuantity = trades.reduce((sum, entry) => sum + (entry.type === 'buy' ? -entry.quantity : entry.quantity), seed.quantity);
    const expectedVolume = trades.reduce((sum, entry) => sum + entry.quantity, 0);
    const stock = stocks.get(seed.name);
    assert.ok(stock !== undefined, `catalog lists ${seed.name}`);
    assert.equal(stock.quantity, expectedQuantity, `quantity of ${seed.name} matches the order log`);
    assert.equal(stock.volume, expectedVolume, `volume of ${seed.name} matches the order log`);
  }
}
