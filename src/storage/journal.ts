// A journal: an append-only JSONL file of records numbered from 0, each carrying a unique key, that
// answers "record N" and "which record carries key K" from disk, so that memory does not grow with
// it. In memory are only the most recent records, one byte offset per block of records, a few
// decoded blocks, and the records being written; the key index is a file beside the journal
// (keyindex.ts). Both the order log and the catalog's trade journal are journals.
import assert from 'node:assert/strict';
import { BazaarError } from '../core/errors.ts';
import { StorageError } from './errors.ts';
import { CorruptFileError, JsonlFile, encodeRecord, parseLine, type LineInfo } from './jsonl.ts';
import { type Coverage, KeyIndex, NOTHING_COVERED } from './keyindex.ts';
import { JOURNAL_BLOCK_RECORDS, JOURNAL_CACHED_BLOCKS, JOURNAL_RECENT_RECORDS, KEY_INDEX_CHECKPOINT_RECORDS } from '../core/limits.ts';
import { keyIndexPath } from '../core/paths.ts';
import type { Log } from './log.ts';

export interface JournalOptions<T> {
  /** Checks a record read from the file and returns it in canonical form; throws if it is not valid as record `number`. */
  parse(record: unknown, number: number): T;
  /** Called with each record, in order, while the file is read on open (to rebuild state from it). */
  replay?(record: T): void;
  /** The number a record carries, if it carries one: appends are then checked to continue the journal. */
  numberOf?(record: T): number;
  lockRetries?: number;
}

export class Journal<T extends { readonly key: string }> implements Log<T> {
  readonly path: string;
  private readonly file: JsonlFile;
  private readonly index: KeyIndex;
  private readonly parse: (record: unknown, number: number) => T;
  private readonly numberOf: ((record: T) => number) | undefined;
  /** Byte offset where block b (records b·BLOCK … ) starts, for b < blocks; grows by doubling. */
  private blockStarts = new Float64Array(1024);
  private blocks = 0;
  /** The last durable records by number modulo the ring's size, and which number each slot holds. */
  private readonly recent: Array<T | undefined> = new Array<T | undefined>(JOURNAL_RECENT_RECORDS);
  private readonly recentNumbers = new Float64Array(JOURNAL_RECENT_RECORDS).fill(-1);
  /** Full blocks decoded from disk, least recently used first. */
  private readonly cachedBlocks = new Map<number, T[]>();
  /** Records on disk, the bytes they take, and the checksum of the last one. */
  private durable = 0;
  private durableEnd = 0;
  private lastCrc = 0;
  /** Records handed to `append` that are not durable yet, and the bytes they will end at. */
  private queued = 0;
  private queuedEnd = 0;
  private sinceCheckpoint = 0;
  private failure: Error | undefined;
  /** Appends not finished yet (close waits for them to index what they wrote). */
  private readonly appending = new Set<Promise<void>>();

  private constructor(filePath: string, file: JsonlFile, index: KeyIndex, options: JournalOptions<T>) {
    this.path = filePath;
    this.file = file;
    this.index = index;
    this.parse = options.parse;
    this.numberOf = options.numberOf;
  }

  /**
   * Opens and locks the journal, reads it through (checking every line, cutting a torn tail, calling
   * `replay`), and brings its key index up to date: it re-indexes what the index's last checkpoint did
   * not cover, or all of it if the index does not match the file.
   */
  static async open<T extends { readonly key: string }>(
    filePath: string,
    onLockLost: (error: Error) => void,
    options: JournalOptions<T>,
  ): Promise<{ journal: Journal<T>; cutBytes: number }> {
    const file = await JsonlFile.open(filePath, onLockLost, { lockRetries: options.lockRetries });
    let index: KeyIndex | undefined;
    try {
      const opened = KeyIndex.open(keyIndexPath(filePath));
      index = opened.index;
      const journal = new Journal(filePath, file, index, options);
      const cutBytes = await journal.load(opened.coverage, options.replay);
      return { journal, cutBytes };
    } catch (error) {
      await index?.close(NOTHING_COVERED).catch(() => undefined);
      await file.close();
      throw error;
    }
  }

  private async load(coverage: Coverage, replay: ((record: T) => void) | undefined): Promise<number> {
    let matches = coverage.covered === 0;
    const cutBytes = await this.file.scan((raw, line) => {
      const number = this.durable;
      const record = this.parse(raw, number);
      replay?.(record);
      this.added(record, line);
      if (number === coverage.covered - 1) matches = line.end === coverage.end && line.crc === coverage.crc;
      if (matches && number >= coverage.covered) this.indexRecord(record, number);
    });
    if (!matches) {
      // The index belongs to another file, or to a longer version of this one: rebuild it.
      this.index.reset();
      for (let number = 0; number < this.durable; number += 1) this.indexRecord(this.read(number)!, number);
    }
    this.queuedEnd = this.durableEnd;
    await this.index.checkpoint(this.coverage());
    return cutBytes;
  }

  private indexRecord(record: T, number: number): void {
    const existing = this.index.insert(record.key, number, (stored) => this.carries(stored, record.key));
    if (existing !== undefined && existing !== number) throw new StorageError('CORRUPT', `${this.path}: key ${record.key} appears in entries ${existing} and ${number}`);
  }

  /** Bookkeeping for a record that just became durable (on open, or when its append resolved). */
  private added(record: T, line: LineInfo): void {
    const number = this.durable;
    if (number % JOURNAL_BLOCK_RECORDS === 0) {
      if (this.blocks === this.blockStarts.length) {
        const bigger = new Float64Array(this.blockStarts.length * 2);
        bigger.set(this.blockStarts);
        this.blockStarts = bigger;
      }
      this.blockStarts[this.blocks] = this.durableEnd;
      this.blocks += 1;
    }
    this.recent[number % JOURNAL_RECENT_RECORDS] = record;
    this.recentNumbers[number % JOURNAL_RECENT_RECORDS] = number;
    this.durable = number + 1;
    this.durableEnd = line.end;
    this.lastCrc = line.crc;
  }

  private coverage(): Coverage {
    return this.durable === 0 ? NOTHING_COVERED : { covered: this.durable, end: this.durableEnd, crc: this.lastCrc };
  }

  private carries(number: number, key: string): boolean {
    return number < this.durable && this.read(number)!.key === key;
  }

  /** Durable records. */
  get length(): number {
    return this.durable;
  }

  /** Bytes on disk. */
  get sizeBytes(): number {
    return this.file.size;
  }

  /** Set once a write failed; the journal takes no more appends and answers no key lookups. */
  get failed(): Error | undefined {
    return this.failure ?? this.file.failed ?? this.index.failed;
  }

  /** A durable record, or undefined. */
  read(number: number): T | undefined {
    if (!Number.isInteger(number) || number < 0 || number >= this.durable) return undefined;
    const slot = number % JOURNAL_RECENT_RECORDS;
    if (this.recentNumbers[slot] === number) return this.recent[slot];
    return this.block(Math.floor(number / JOURNAL_BLOCK_RECORDS))[number % JOURNAL_BLOCK_RECORDS];
  }

  /** Durable records with numbers in [from, to). */
  readRange(from: number, to: number): T[] {
    const records: T[] = [];
    for (let number = Math.max(0, from); number < Math.min(to, this.durable); number += 1) records.push(this.read(number)!);
    return records;
  }

  /** The number of the durable record carrying `key`, or undefined. */
  find(key: string): number | undefined {
    if (this.failure !== undefined) throw this.failure;
    return this.index.find(key, (number) => this.carries(number, key));
  }

  /** The records of block b that are durable, read from disk (full blocks are cached). */
  private block(b: number): T[] {
    const cached = this.cachedBlocks.get(b);
    if (cached !== undefined) {
      this.cachedBlocks.delete(b);
      this.cachedBlocks.set(b, cached);
      return cached;
    }
    const lines = this.blockLines(b);
    const records = lines.map(({ record }, i) => this.parse(record, b * JOURNAL_BLOCK_RECORDS + i));
    if (records.length === JOURNAL_BLOCK_RECORDS) {
      this.cachedBlocks.set(b, records);
      if (this.cachedBlocks.size > JOURNAL_CACHED_BLOCKS) this.cachedBlocks.delete(this.cachedBlocks.keys().next().value!);
    }
    return records;
  }

  /** The checked lines of block b's durable records: each record, its checksum and where its line ends. */
  private blockLines(b: number): Array<{ record: unknown; crc: number; end: number }> {
    assert.ok(b < this.blocks, 'the block exists');
    const start = this.blockStarts[b]!;
    const end = b + 1 < this.blocks ? this.blockStarts[b + 1]! : this.durableEnd;
    const bytes = Buffer.alloc(end - start);
    const read = this.file.readAt(bytes, start);
    const lines: Array<{ record: unknown; crc: number; end: number }> = [];
    let at = 0;
    try {
      if (read !== bytes.length) throw new Error(`read ${read} of ${bytes.length} bytes`);
      while (at < bytes.length) {
        const newline = bytes.indexOf(0x0a, at);
        if (newline === -1) throw new Error('a line has no end');
        lines.push({ ...parseLine(bytes.subarray(at, newline)), end: start + newline + 1 });
        at = newline + 1;
      }
    } catch (error) {
      // What was checked on open has changed under us: nothing this journal says can be trusted.
      this.failure ??= new StorageError('READ_FAILED', new CorruptFileError(this.path, b * JOURNAL_BLOCK_RECORDS + lines.length + 1, (error as Error).message, 0).message);
      throw this.failure;
    }
    return lines;
  }

  /**
   * Appends records (numbered `length` + records already queued, in order; their keys not in the
   * journal) and resolves once they are on disk and indexed. Records of concurrent calls share one
   * write and one fdatasync.
   */
  append(records: readonly T[]): Promise<void> {
    const appended = this.appendNow(records);
    this.appending.add(appended);
    const forget = (): void => void this.appending.delete(appended);
    appended.then(forget, forget);
    return appended;
  }

  private async appendNow(records: readonly T[]): Promise<void> {
    if (this.failed !== undefined) throw this.failed;
    const first = this.durable + this.queued;
    if (this.numberOf !== undefined) {
      for (const [i, record] of records.entries()) assert.equal(this.numberOf(record), first + i, 'log numbers are contiguous');
    }
    const lines = records.map((record) => {
      const { line, crc } = encodeRecord(record);
      this.queuedEnd += Buffer.byteLength(line);
      return { line, crc, end: this.queuedEnd };
    });
    this.queued += records.length;
    await this.file.append(lines.map(({ line }) => line).join(''));
    // Appends resolve in call order, so the records before these are durable already.
    assert.equal(this.durable, first, 'appends become durable in order');
    this.queued -= records.length;
    for (const [i, record] of records.entries()) {
      this.added(record, lines[i]!);
      try {
        this.indexRecord(record, first + i);
      } catch (error) {
        // On disk but not findable by key: answering "absent" later could trade twice. Refuse all.
        this.failure ??= error instanceof BazaarError ? error : new StorageError('CORRUPT', (error as Error).message, { cause: error });
        throw this.failure;
      }
    }
    this.sinceCheckpoint += records.length;
    if (this.sinceCheckpoint >= KEY_INDEX_CHECKPOINT_RECORDS) {
      this.sinceCheckpoint = 0;
      // A failed checkpoint marks the index failed; the next append or lookup reports it.
      this.index.checkpoint(this.coverage()).catch(() => undefined);
    }
  }

  /** Durably keeps only the first `length` records. Only called when no append is in progress. */
  async truncate(length: number): Promise<void> {
    assert.equal(this.queued, 0, 'no append is in progress during a truncate');
    if (this.failed !== undefined) throw this.failed;
    if (length >= this.durable) return;
    assert.ok(length >= 0, 'a journal is cut to a length of zero or more');
    let kept: Coverage = NOTHING_COVERED;
    if (length > 0) {
      const last = this.blockLines(Math.floor((length - 1) / JOURNAL_BLOCK_RECORDS))[(length - 1) % JOURNAL_BLOCK_RECORDS]!;
      kept = { covered: length, end: last.end, crc: last.crc };
    }
    // First the index stops claiming the records being cut (its stale entries are then never
    // confirmed), then the file is cut: a crash between the two leaves an index that still matches.
    this.index.lower(kept);
    await this.file.truncate(kept.end);
    this.durable = length;
    this.durableEnd = kept.end;
    this.queuedEnd = kept.end;
    this.lastCrc = kept.crc;
    this.blocks = Math.ceil(length / JOURNAL_BLOCK_RECORDS);
    this.cachedBlocks.clear();
  }

  /** Waits for queued appends, checkpoints the index, closes both and releases the lock. */
  async close(): Promise<void> {
    await this.file.close();
    await Promise.allSettled([...this.appending]);
    await this.index.close(this.failed === undefined ? this.coverage() : NOTHING_COVERED);
  }
}
