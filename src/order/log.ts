// The order log: a small interface the replica logic programs against, and its JSONL implementation
// (one entry a line, group-committed with fdatasync, torn tail cut on open, locked to one process).
import assert from 'node:assert/strict';
import { JsonlFile, jsonlLine } from '../core/jsonl.ts';
import type { OrderEntry } from '../core/trade.ts';

export interface OrderLog {
  /** Durable entries; also the first number not yet durable. */
  readonly length: number;
  /** The number the next appended entry must carry (durable entries plus those being written). */
  readonly nextNumber: number;
  /** Bytes on disk. */
  readonly sizeBytes: number;
  /** A durable entry, or undefined. */
  entry(number: number): OrderEntry | undefined;
  /** Durable entries with numbers in [from, to). */
  slice(from: number, to: number): OrderEntry[];
  /** The number of the durable entry that carries this key, or undefined. */
  numberForKey(key: string): number | undefined;
  /**
   * Appends entries that continue the log (the first carries `nextNumber`); resolves once they are
   * on disk. Entries of concurrent calls are written and synced together.
   */
  append(entries: readonly OrderEntry[]): Promise<void>;
  /**
   * Drops every entry from number `length` on, durably (a conflicting suffix being replaced). Only
   * called when no append is in progress.
   */
  truncate(length: number): Promise<void>;
  close(): Promise<void>;
}

/** Two entries are the same if number, epoch and key agree (a leader gives a number out once an epoch). */
export function sameEntry(a: Pick<OrderEntry, 'number' | 'epoch' | 'key'> | undefined | null, b: Pick<OrderEntry, 'number' | 'epoch' | 'key'> | undefined | null): boolean {
  return a != null && b != null && a.number === b.number && a.epoch === b.epoch && a.key === b.key;
}

export function parseOrderEntry(record: unknown, expectedNumber: number, where: string): OrderEntry {
  const entry = record as Partial<OrderEntry> | null;
  const valid =
    entry !== null &&
    typeof entry === 'object' &&
    entry.number === expectedNumber &&
    Number.isInteger(entry.epoch) &&
    (entry.epoch ?? -1) >= 0 &&
    typeof entry.key === 'string' &&
    typeof entry.name === 'string' &&
    (entry.type === 'buy' || entry.type === 'sell') &&
    Number.isInteger(entry.quantity) &&
    (entry.quantity ?? 0) > 0;
  if (!valid) throw new Error(`${where}: entry ${expectedNumber} is not a valid order (numbers must run from 0 without gaps)`);
  const { number, epoch, key, name, type, quantity } = entry as OrderEntry;
  // Written in this field order, so that equal logs are equal byte for byte.
  return { number, epoch, key, name, type, quantity };
}

/**
 * The in-memory index every implementation shares: entries (durable ones first, then those being
 * written), the key index and the durable count. Subclasses only say how entries become durable and
 * how a suffix is cut, so the bookkeeping that unit tests exercise is the one production runs.
 */
abstract class IndexedOrderLog implements OrderLog {
  /** Durable entries followed by entries whose write is in progress. */
  private readonly entries: OrderEntry[];
  private readonly keys = new Map<string, number>();
  private durable: number;
  protected readonly where: string;

  protected constructor(entries: OrderEntry[], where: string) {
    this.entries = entries;
    this.durable = entries.length;
    this.where = where;
    for (const entry of entries) {
      if (this.keys.has(entry.key)) throw new Error(`${where}: key ${entry.key} appears in entries ${this.keys.get(entry.key)} and ${entry.number}`);
      this.keys.set(entry.key, entry.number);
    }
  }

  abstract readonly sizeBytes: number;
  /** Makes these entries (which continue the durable ones, in order) durable. */
  protected abstract write(entries: readonly OrderEntry[]): Promise<void>;
  /** Durably keeps only the first `length` entries. */
  protected abstract cut(length: number): Promise<void>;
  abstract close(): Promise<void>;

  get length(): number {
    return this.durable;
  }

  get nextNumber(): number {
    return this.entries.length;
  }

  entry(number: number): OrderEntry | undefined {
    return number < this.durable ? this.entries[number] : undefined;
  }

  slice(from: number, to: number): OrderEntry[] {
    return this.entries.slice(from, Math.min(to, this.durable));
  }

  numberForKey(key: string): number | undefined {
    return this.keys.get(key);
  }

  async append(entries: readonly OrderEntry[]): Promise<void> {
    for (const [offset, entry] of entries.entries()) {
      assert.equal(entry.number, this.entries.length + offset, 'log numbers are contiguous');
    }
    const first = this.entries.length;
    // Check what goes to disk: each entry is re-parsed into the canonical field order.
    const records = entries.map((entry) => parseOrderEntry(entry, entry.number, this.where));
    this.entries.push(...records);
    await this.write(records);
    // Writes complete in call order, so every entry before these is durable too.
    assert.equal(this.durable, first, 'appends become durable in order');
    this.durable = first + records.length;
    for (const record of records) this.keys.set(record.key, record.number);
  }

  async truncate(length: number): Promise<void> {
    assert.equal(this.entries.length, this.durable, 'no append is in progress during a truncate');
    if (length >= this.durable) return;
    await this.cut(length);
    for (const entry of this.entries.splice(length)) this.keys.delete(entry.key);
    this.durable = length;
  }
}

function lineBytes(entry: OrderEntry): number {
  return Buffer.byteLength(jsonlLine(entry));
}

export class JsonlOrderLog extends IndexedOrderLog {
  private readonly file: JsonlFile;
  /** Byte offset just past each durable entry's line, for truncation. */
  private readonly ends: number[];

  private constructor(file: JsonlFile, entries: OrderEntry[], ends: number[]) {
    super(entries, file.path);
    this.file = file;
    this.ends = ends;
  }

  /** Opens and locks the log; the returned `cutBytes` says how much of a torn tail was cut. */
  static async open(
    filePath: string,
    onLockLost: (error: Error) => void,
    options: { lockRetries?: number } = {},
  ): Promise<{ log: JsonlOrderLog; cutBytes: number }> {
    const { file, contents } = await JsonlFile.open(filePath, onLockLost, options);
    try {
      let previousEpoch = 0;
      const entries = contents.records.map((record, index) => {
        const entry = parseOrderEntry(record, index, filePath);
        if (entry.epoch < previousEpoch) throw new Error(`${filePath}: entry ${index} has epoch ${entry.epoch}, older than the entry before it`);
        previousEpoch = entry.epoch;
        return entry;
      });
      return { log: new JsonlOrderLog(file, entries, contents.ends), cutBytes: contents.cutBytes };
    } catch (error) {
      await file.close();
      throw error;
    }
  }

  get sizeBytes(): number {
    return this.file.size;
  }

  protected async write(entries: readonly OrderEntry[]): Promise<void> {
    await this.file.append(entries);
    let end = this.ends.at(-1) ?? 0;
    for (const entry of entries) {
      end += lineBytes(entry);
      this.ends.push(end);
    }
    // Later group commits may already be counted in the file size, never fewer bytes than these.
    assert.ok(end <= this.file.size, 'the entry offsets stay within the file');
  }

  protected async cut(length: number): Promise<void> {
    await this.file.truncate(length === 0 ? 0 : this.ends[length - 1]!);
    this.ends.splice(length);
  }

  close(): Promise<void> {
    return this.file.close();
  }
}

/** The same contract in memory, for unit tests of the replica logic; `failWrites` simulates a disk error. */
export class MemoryOrderLog extends IndexedOrderLog {
  private readonly lineBytes: number[] = [];
  failWrites = false;

  constructor() {
    super([], 'memory log');
  }

  get sizeBytes(): number {
    return this.lineBytes.reduce((sum, bytes) => sum + bytes, 0);
  }

  protected async write(entries: readonly OrderEntry[]): Promise<void> {
    // One turn of the event loop, as a real write takes; writes still complete in call order.
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (this.failWrites) throw new Error('simulated write failure');
    this.lineBytes.push(...entries.map(lineBytes));
  }

  protected async cut(length: number): Promise<void> {
    this.lineBytes.splice(length);
  }

  async close(): Promise<void> {}
}
