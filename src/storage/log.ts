// The one storage interface: a log of records numbered from 0, each carrying a unique key, read
// synchronously and written asynchronously (a write resolves once it is durable). The order log and
// the catalog's trade journal are both `Journal`s (journal.ts) behind it; `MemoryLog` is its twin in
// memory, for unit tests and the simulator, as etcd keeps `Storage` and `MemoryStorage` side by side.
import assert from 'node:assert/strict';
import { jsonlLine } from './jsonl.ts';
import { StorageError } from './errors.ts';

/** What a reader of the log may see: durable records only. */
export interface ReadLog<T extends { readonly key: string }> {
  /** Durable records; also the number the next durable record will carry. */
  readonly length: number;
  /** Bytes on disk. */
  readonly sizeBytes: number;
  /** A durable record, or undefined. */
  read(number: number): T | undefined;
  /** Durable records with numbers in [from, to). */
  readRange(from: number, to: number): T[];
  /** The number of the durable record that carries this key, or undefined. */
  find(key: string): number | undefined;
}

export interface Log<T extends { readonly key: string }> extends ReadLog<T> {
  /** The error that stopped the log from taking writes, if any; every later write fails with it. */
  readonly failed: Error | undefined;
  /**
   * Appends records that continue the log; resolves once they are on disk. Records of concurrent
   * calls are written and synced together, and calls complete in call order.
   */
  append(records: readonly T[]): Promise<void>;
  /** Durably drops every record from number `length` on. Never called while an append is in progress. */
  truncate(length: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * The same contract in memory. A write takes one turn of the event loop, as a real one does, and
 * writes complete in call order. `failWrites` makes the next writes fail as a broken disk would.
 */
export class MemoryLog<T extends { readonly key: string }> implements Log<T> {
  private readonly records: T[] = [];
  private readonly keys = new Map<string, number>();
  private bytes = 0;
  failWrites = false;

  get length(): number {
    return this.records.length;
  }

  get sizeBytes(): number {
    return this.bytes;
  }

  get failed(): Error | undefined {
    return undefined;
  }

  read(number: number): T | undefined {
    return this.records[number];
  }

  readRange(from: number, to: number): T[] {
    return this.records.slice(from, to);
  }

  find(key: string): number | undefined {
    return this.keys.get(key);
  }

  async append(records: readonly T[]): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (this.failWrites) throw new StorageError('WRITE_FAILED', 'simulated write failure');
    this.appendNow(records);
  }

  /** Appends at once (the simulator decides itself when a write completes). */
  appendNow(records: readonly T[]): void {
    for (const record of records) {
      assert.equal(this.keys.has(record.key), false, 'a key is logged once');
      this.keys.set(record.key, this.records.length);
      this.records.push(record);
      this.bytes += Buffer.byteLength(jsonlLine(record));
    }
  }

  async truncate(length: number): Promise<void> {
    this.truncateNow(length);
  }

  truncateNow(length: number): void {
    for (const record of this.records.splice(length)) {
      this.keys.delete(record.key);
      this.bytes -= Buffer.byteLength(jsonlLine(record));
    }
  }

  async close(): Promise<void> {}
}
