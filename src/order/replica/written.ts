// The log as the replica has written it: the durable entries (read through `ReadLog`) and, after
// them, the entries handed to the driver whose appends have not completed — etcd-io/raft's
// `unstable`. Reads that fail (a damaged file) become a `StorageFault`, which the machine handles as
// an event at its boundary: it stops, instead of deciding anything on a read it could not make.
import assert from 'node:assert/strict';
import type { OrderEntry } from '../../core/trade.ts';
import type { ReadLog } from '../../storage/log.ts';

/** A read of the durable log failed; carries the storage error. */
export class StorageFault extends Error {
  constructor(readonly error: Error) {
    super(error.message, { cause: error });
    this.name = 'StorageFault';
  }
}

/** A read's throw as the machine handles it: a programmer error stays one, anything else is a storage fault. */
function fault(error: unknown): Error {
  if (error instanceof assert.AssertionError) return error;
  return new StorageFault(error instanceof Error ? error : new Error(String(error)));
}

export class WrittenLog {
  private readonly durable: ReadLog<OrderEntry>;
  /** The number the next entry handed to the driver carries. */
  nextNumber: number;
  /**
   * Entries handed to the driver whose writes have not completed, oldest first: numbers
   * [nextNumber - queued.length, nextNumber). Writes complete in call order, so everything before
   * them is durable. (The log may report some of them durable before their completion arrives.)
   */
  readonly queued: OrderEntry[] = [];
  /** Appends handed to the driver and not completed. */
  appending = 0;
  /** A truncate is on its way: the lengths above do not hold until it completes. */
  truncating = false;

  constructor(durable: ReadLog<OrderEntry>) {
    this.durable = durable;
    this.nextNumber = durable.length;
  }

  /** Durable entries. */
  get length(): number {
    return this.durable.length;
  }

  get sizeBytes(): number {
    return this.durable.sizeBytes;
  }

  // The reads catch in place rather than through a wrapper: they run on every trade and message.
  read(number: number): OrderEntry | undefined {
    try {
      return this.durable.read(number);
    } catch (error) {
      throw fault(error);
    }
  }

  readRange(from: number, to: number): OrderEntry[] {
    try {
      return this.durable.readRange(from, to);
    } catch (error) {
      throw fault(error);
    }
  }

  find(key: string): number | undefined {
    try {
      return this.durable.find(key);
    } catch (error) {
      throw fault(error);
    }
  }

  /** An entry as written so far: durable, or handed to the driver and not completed yet. */
  written(number: number): OrderEntry | undefined {
    const firstQueued = this.nextNumber - this.queued.length;
    return number < firstQueued ? this.read(number) : this.queued[number - firstQueued];
  }

  /** Written entries with numbers in [from, to). */
  writtenRange(from: number, to: number): OrderEntry[] {
    const firstQueued = this.nextNumber - this.queued.length;
    return [...this.readRange(from, Math.min(to, firstQueued)), ...this.queued.slice(Math.max(from, firstQueued) - firstQueued, Math.max(0, to - firstQueued))];
  }

  /** Entries that continue the log go to the driver. */
  beginAppend(entries: readonly OrderEntry[]): void {
    for (const [offset, entry] of entries.entries()) assert.equal(entry.number, this.nextNumber + offset, 'log numbers are contiguous');
    this.nextNumber += entries.length;
    this.queued.push(...entries);
    this.appending += 1;
  }

  /** The oldest append completed (either way). */
  endAppend(count: number): void {
    this.queued.splice(0, count);
    this.appending -= 1;
    if (this.appending === 0) this.nextNumber = this.length;
  }

  beginTruncate(): void {
    assert.equal(this.appending, 0, 'no append is in progress during a truncate');
    this.truncating = true;
  }

  endTruncate(): void {
    this.truncating = false;
    this.nextNumber = this.length;
  }
}
