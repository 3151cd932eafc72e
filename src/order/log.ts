// The order log: a small interface the replica logic programs against, its journal implementation
// (one entry a line, group-committed with fdatasync, torn tail cut on open, locked to one process,
// indexed on disk), and an in-memory one for unit tests of the replica logic.
import assert from 'node:assert/strict';
import { Journal } from '../core/journal.ts';
import { jsonlLine } from '../core/jsonl.ts';
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
 * What every implementation shares: the checks on what is appended (contiguous numbers, canonical
 * field order) and the number the next entry gets. Subclasses say how entries are kept, made durable
 * and cut, so the bookkeeping unit tests exercise is the one production runs.
 */
abstract class OrderLogBase implements OrderLog {
  /** The number after the last entry handed to `append` (durable or being written). */
  private next: number;
  protected readonly where: string;

  protected constructor(length: number, where: string) {
    this.next = length;
    this.where = where;
  }

  abstract readonly length: number;
  abstract readonly sizeBytes: number;
  abstract entry(number: number): OrderEntry | undefined;
  abstract slice(from: number, to: number): OrderEntry[];
  abstract numberForKey(key: string): number | undefined;
  /** Makes these entries (which continue the ones before, in order) durable; calls complete in order. */
  protected abstract write(entries: readonly OrderEntry[]): Promise<void>;
  /** Durably keeps only the first `length` entries. */
  protected abstract cut(length: number): Promise<void>;
  abstract close(): Promise<void>;

  get nextNumber(): number {
    return this.next;
  }

  async append(entries: readonly OrderEntry[]): Promise<void> {
    for (const [offset, entry] of entries.entries()) {
      assert.equal(entry.number, this.next + offset, 'log numbers are contiguous');
    }
    // Check what goes to disk: each entry is re-parsed into the canonical field order.
    const records = entries.map((entry) => parseOrderEntry(entry, entry.number, this.where));
    const first = this.next;
    this.next += records.length;
    await this.write(records);
    // Writes complete in call order (a group commit may have made later ones durable already).
    assert.ok(this.length >= first + records.length, 'appends become durable in order');
  }

  async truncate(length: number): Promise<void> {
    assert.equal(this.next, this.length, 'no append is in progress during a truncate');
    if (length >= this.length) return;
    await this.cut(length);
    this.next = length;
  }
}

/**
 * The order log on disk: a journal (one entry a line, group-committed with fdatasync, torn tail cut
 * on open, locked to one process, indexed by key and number on disk, so memory stays flat).
 */
export class JsonlOrderLog extends OrderLogBase {
  private readonly journal: Journal<OrderEntry>;

  private constructor(journal: Journal<OrderEntry>) {
    super(journal.length, journal.path);
    this.journal = journal;
  }

  /** Opens and locks the log; the returned `cutBytes` says how much of a torn tail was cut. */
  static async open(
    filePath: string,
    onLockLost: (error: Error) => void,
    options: { lockRetries?: number } = {},
  ): Promise<{ log: JsonlOrderLog; cutBytes: number }> {
    let previousEpoch = 0;
    const { journal, cutBytes } = await Journal.open<OrderEntry>(filePath, onLockLost, {
      lockRetries: options.lockRetries,
      parse: (record, number) => parseOrderEntry(record, number, filePath),
      replay: (entry) => {
        if (entry.epoch < previousEpoch) throw new Error(`${filePath}: entry ${entry.number} has epoch ${entry.epoch}, older than the entry before it`);
        previousEpoch = entry.epoch;
      },
    });
    return { log: new JsonlOrderLog(journal), cutBytes };
  }

  get length(): number {
    return this.journal.length;
  }

  get sizeBytes(): number {
    return this.journal.sizeBytes;
  }

  entry(number: number): OrderEntry | undefined {
    return this.journal.read(number);
  }

  slice(from: number, to: number): OrderEntry[] {
    return this.journal.readRange(from, to);
  }

  numberForKey(key: string): number | undefined {
    return this.journal.find(key);
  }

  protected write(entries: readonly OrderEntry[]): Promise<void> {
    return this.journal.append(entries);
  }

  protected cut(length: number): Promise<void> {
    return this.journal.truncate(length);
  }

  close(): Promise<void> {
    return this.journal.close();
  }
}

/** The same contract in memory, for unit tests of the replica logic; `failWrites` simulates a disk error. */
export class MemoryOrderLog extends OrderLogBase {
  private readonly entries: OrderEntry[] = [];
  private readonly keys = new Map<string, number>();
  private readonly lineBytes: number[] = [];
  failWrites = false;

  constructor() {
    super(0, 'memory log');
  }

  get length(): number {
    return this.entries.length;
  }

  get sizeBytes(): number {
    return this.lineBytes.reduce((sum, bytes) => sum + bytes, 0);
  }

  entry(number: number): OrderEntry | undefined {
    return this.entries[number];
  }

  slice(from: number, to: number): OrderEntry[] {
    return this.entries.slice(from, to);
  }

  numberForKey(key: string): number | undefined {
    return this.keys.get(key);
  }

  protected async write(entries: readonly OrderEntry[]): Promise<void> {
    // One turn of the event loop, as a real write takes; writes still complete in call order.
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (this.failWrites) throw new Error('simulated write failure');
    for (const entry of entries) {
      assert.equal(this.keys.has(entry.key), false, 'a key is logged once');
      this.entries.push(entry);
      this.keys.set(entry.key, entry.number);
      this.lineBytes.push(Buffer.byteLength(jsonlLine(entry)));
    }
  }

  protected async cut(length: number): Promise<void> {
    for (const entry of this.entries.splice(length)) this.keys.delete(entry.key);
    this.lineBytes.splice(length);
  }

  async close(): Promise<void> {}
}
