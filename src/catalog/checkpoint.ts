// The catalog's checkpoint: its state through some order of the log, replaced atomically now and
// then (never on a trade's path). It saves time, not data: a missing or damaged one means a rebuild
// from the order log, which is the truth.
import { readFile } from 'node:fs/promises';
import { replaceFile } from '../storage/atomic.ts';
import type { Checkpoint, StockState } from './state.ts';

const FORMAT = 1;

/** The checkpoint on disk; undefined when there is none. Throws with the reason when it cannot be used. */
export async function loadCheckpoint(file: string): Promise<Checkpoint | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return parseCheckpoint(text);
}

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

export function parseCheckpoint(text: string): Checkpoint {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error('it is not JSON (a damaged write)');
  }
  const record = value as { format?: unknown; applied?: unknown; last?: unknown; stocks?: unknown } | null;
  if (record === null || typeof record !== 'object' || record.format !== FORMAT) throw new Error(`it is not a format ${FORMAT} checkpoint`);
  const { applied, last, stocks } = record;
  if (!isCount(applied)) throw new Error('"applied" is not a count');
  let lastEntry: Checkpoint['last'] = null;
  if (last !== null) {
    const ref = last as { number?: unknown; key?: unknown } | null;
    if (ref === null || typeof ref !== 'object' || !isCount(ref.number) || typeof ref.key !== 'string' || ref.number !== applied - 1) throw new Error('"last" is not the entry before "applied"');
    lastEntry = { number: ref.number, key: ref.key };
  } else if (applied !== 0) {
    throw new Error('"last" is missing');
  }
  if (!Array.isArray(stocks)) throw new Error('"stocks" is not a list');
  const parsed = stocks.map((item: unknown): StockState => {
    const stock = item as Partial<StockState> | null;
    if (stock === null || typeof stock !== 'object' || typeof stock.name !== 'string' || typeof stock.price !== 'number' || !Number.isSafeInteger(stock.quantity) || !isCount(stock.volume) || !isCount(stock.version)) {
      throw new Error('a stock is not name, price, quantity, volume and version');
    }
    return { name: stock.name, price: stock.price, quantity: stock.quantity!, volume: stock.volume, version: stock.version };
  });
  return { applied, last: lastEntry, stocks: parsed };
}

export function saveCheckpoint(file: string, checkpoint: Checkpoint): Promise<void> {
  return replaceFile(file, `${JSON.stringify({ format: FORMAT, ...checkpoint })}\n`);
}
