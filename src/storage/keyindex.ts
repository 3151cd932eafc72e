// A hash index from idempotency keys to record numbers that lives on disk, so that a process's memory
// stays flat however many records its journal holds. It is derived data: the journal is the truth,
// every hit is confirmed against the record it names, and an index that does not match its journal is
// rebuilt from it. Layout: one 64-byte header, then 2^k slots of 16 bytes (two 32-bit halves of the
// key's hash, then the record number + 1 as a float64; 0 marks an empty slot), probed linearly a page
// at a time. Reads and writes are synchronous preads/pwrites served from the page cache; only a
// checkpoint syncs, off the event loop. When half the slots are used, a table of twice the size is
// filled in the background while lookups consult both and inserts go to the new one.
import assert from 'node:assert/strict';
import { closeSync, fdatasync, fdatasyncSync, ftruncateSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { promisify } from 'node:util';
import { StorageError } from './errors.ts';
import { KEY_INDEX_GROW_STEP_SLOTS, KEY_INDEX_INITIAL_SLOTS } from '../core/limits.ts';

const datasync = promisify(fdatasync);

const MAGIC = 'BZKEYS01';
const HEADER_BYTES = 64;
const SLOT_BYTES = 16;
/** Slots read at once while probing: one 4 KiB page. */
const PAGE_SLOTS = 256;

/**
 * What the index holds, as its owner identifies it in the journal: the first `covered` records, the
 * last of which ends at byte `end` and carries checksum `crc`. Checked on open, so an index left by a
 * different or since-cut journal is never believed.
 */
export interface Coverage {
  readonly covered: number;
  readonly end: number;
  readonly crc: number;
}

export const NOTHING_COVERED: Coverage = { covered: 0, end: 0, crc: 0 };

/** Two independent 32-bit halves of a 64-bit hash of the key (cyrb53's mixing, both lanes kept). */
export function hashKey(key: string): [number, number] {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < key.length; i += 1) {
    const c = key.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return [h1 >>> 0, h2 >>> 0];
}

function encodeHeader(slotsLog2: number, coverage: Coverage): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  header.write(MAGIC, 0, 'latin1');
  header.writeUInt32LE(slotsLog2, 8);
  header.writeDoubleLE(coverage.covered, 16);
  header.writeDoubleLE(coverage.end, 24);
  header.writeUInt32LE(coverage.crc, 32);
  header.writeUInt32LE(crc32(header.subarray(0, HEADER_BYTES - 4)), HEADER_BYTES - 4);
  return header;
}

function decodeHeader(header: Buffer): { slotsLog2: number; coverage: Coverage } | undefined {
  if (header.length < HEADER_BYTES || header.toString('latin1', 0, 8) !== MAGIC) return undefined;
  if (crc32(header.subarray(0, HEADER_BYTES - 4)) !== header.readUInt32LE(HEADER_BYTES - 4)) return undefined;
  const slotsLog2 = header.readUInt32LE(8);
  if (slotsLog2 < 4 || slotsLog2 > 40) return undefined;
  return { slotsLog2, coverage: { covered: header.readDoubleLE(16), end: header.readDoubleLE(24), crc: header.readUInt32LE(32) } };
}

/** One open-addressing table in one file. */
class Table {
  /** Changes once, when a grown table is renamed into place. */
  path: string;
  readonly fd: number;
  readonly slotsLog2: number;
  readonly slots: number;
  private readonly mask: number;
  /** Slots holding an entry (stale ones, naming records since cut from the journal, included). */
  used: number;
  private readonly page = Buffer.alloc(PAGE_SLOTS * SLOT_BYTES);
  private readonly slot = Buffer.alloc(SLOT_BYTES);

  private constructor(filePath: string, fd: number, slotsLog2: number, used: number) {
    this.path = filePath;
    this.fd = fd;
    this.slotsLog2 = slotsLog2;
    this.slots = 2 ** slotsLog2;
    this.mask = this.slots - 1;
    this.used = used;
  }

  /** A new, empty table (the file is sparse until slots are written) covering nothing. */
  static create(filePath: string, slotsLog2: number): Table {
    const fd = openSync(filePath, 'w+');
    try {
      writeSync(fd, encodeHeader(slotsLog2, NOTHING_COVERED), 0, HEADER_BYTES, 0);
      ftruncateSync(fd, HEADER_BYTES + 2 ** slotsLog2 * SLOT_BYTES);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    return new Table(filePath, fd, slotsLog2, 0);
  }

  /** The table in this file and what its header says it covers, or undefined if it is not a valid index. */
  static open(filePath: string): { table: Table; coverage: Coverage } | undefined {
    let fd: number;
    try {
      fd = openSync(filePath, 'r+');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    const header = Buffer.alloc(HEADER_BYTES);
    const decoded = readSync(fd, header, 0, HEADER_BYTES, 0) === HEADER_BYTES ? decodeHeader(header) : undefined;
    if (decoded === undefined) {
      closeSync(fd);
      return undefined;
    }
    const table = new Table(filePath, fd, decoded.slotsLog2, 0);
    table.used = table.countUsed();
    return { table, coverage: decoded.coverage };
  }

  private countUsed(): number {
    const chunk = Buffer.alloc(PAGE_SLOTS * SLOT_BYTES * 64);
    let used = 0;
    for (let first = 0; first < this.slots; first += chunk.length / SLOT_BYTES) {
      const bytes = readSync(this.fd, chunk, 0, Math.min(chunk.length, (this.slots - first) * SLOT_BYTES), HEADER_BYTES + first * SLOT_BYTES);
      for (let offset = 0; offset + SLOT_BYTES <= bytes; offset += SLOT_BYTES) if (chunk.readDoubleLE(offset + 8) !== 0) used += 1;
    }
    return used;
  }

  /**
   * Walks the probe sequence of hash (h1, h2): calls `visit` with each stored number whose hash
   * matches until it returns true (that number is returned), and stops at the first empty slot,
   * returning its position as `-1 - slot`.
   */
  private probe(h1: number, h2: number, visit: (number: number) => boolean): number {
    let position = h1 & this.mask;
    for (let probed = 0; probed < this.slots; ) {
      const inPage = position % PAGE_SLOTS;
      const count = Math.min(PAGE_SLOTS - inPage, this.slots - position);
      readSync(this.fd, this.page, 0, count * SLOT_BYTES, HEADER_BYTES + position * SLOT_BYTES);
      for (let i = 0; i < count; i += 1) {
        const offset = i * SLOT_BYTES;
        const value = this.page.readDoubleLE(offset + 8);
        if (value === 0) return -1 - (position + i);
        if (this.page.readUInt32LE(offset) === h1 && this.page.readUInt32LE(offset + 4) === h2 && visit(value - 1)) return value - 1;
      }
      probed += count;
      position = (position + count) & this.mask;
    }
    throw new Error(`${this.path}: the key index has no empty slot`);
  }

  find(h1: number, h2: number, confirm: (number: number) => boolean): number | undefined {
    const found = this.probe(h1, h2, confirm);
    return found >= 0 ? found : undefined;
  }

  /**
   * Stores an entry in the first empty slot of its probe sequence, unless a stored number with the
   * same hash is one `confirm` accepts: then nothing is stored and that number is returned.
   */
  insert(h1: number, h2: number, number: number, confirm: (number: number) => boolean): number | undefined {
    const found = this.probe(h1, h2, confirm);
    if (found >= 0) return found;
    const position = -1 - found;
    this.slot.writeUInt32LE(h1, 0);
    this.slot.writeUInt32LE(h2, 4);
    this.slot.writeDoubleLE(number + 1, 8);
    writeSync(this.fd, this.slot, 0, SLOT_BYTES, HEADER_BYTES + position * SLOT_BYTES);
    this.used += 1;
    return undefined;
  }

  /** Every stored (h1, h2, number) in slots [first, first + count). */
  entries(first: number, count: number): Array<[number, number, number]> {
    const chunk = Buffer.alloc(count * SLOT_BYTES);
    const bytes = readSync(this.fd, chunk, 0, chunk.length, HEADER_BYTES + first * SLOT_BYTES);
    const found: Array<[number, number, number]> = [];
    for (let offset = 0; offset + SLOT_BYTES <= bytes; offset += SLOT_BYTES) {
      const value = chunk.readDoubleLE(offset + 8);
      if (value !== 0) found.push([chunk.readUInt32LE(offset), chunk.readUInt32LE(offset + 4), value - 1]);
    }
    return found;
  }

  writeHeader(coverage: Coverage): void {
    writeSync(this.fd, encodeHeader(this.slotsLog2, coverage), 0, HEADER_BYTES, 0);
  }

  get full(): boolean {
    return this.used * 2 >= this.slots;
  }

  close(): void {
    closeSync(this.fd);
  }
}

export class KeyIndex {
  readonly path: string;
  private table: Table;
  /** While growing: the bigger table being filled, and how many slots of the old one it has taken. */
  private growing: { next: Table; copied: number; moved: number; timer: NodeJS.Immediate | undefined } | undefined;
  private failure: Error | undefined;
  private checkpointing: Promise<void> | undefined;
  /** What the header on disk claims (the newest header written). */
  private claimed: Coverage;
  /** Counts `lower` calls, so a checkpoint begun before one does not claim what it cut. */
  private lowered = 0;
  private closed = false;

  private constructor(filePath: string, table: Table, claimed: Coverage) {
    this.path = filePath;
    this.table = table;
    this.claimed = claimed;
  }

  /**
   * Opens the index file, or creates an empty one. `coverage` is what the header claims: the owner
   * checks it against the journal and calls `reset` if it does not match.
   */
  static open(filePath: string): { index: KeyIndex; coverage: Coverage } {
    rmSync(`${filePath}.grow`, { force: true }); // A grow a crash interrupted; the old table stands.
    const opened = Table.open(filePath);
    if (opened !== undefined) return { index: new KeyIndex(filePath, opened.table, opened.coverage), coverage: opened.coverage };
    return { index: new KeyIndex(filePath, Table.create(filePath, Math.log2(KEY_INDEX_INITIAL_SLOTS)), NOTHING_COVERED), coverage: NOTHING_COVERED };
  }

  /** Entries (stale ones included) and slots (of the bigger table while growing). */
  get stats(): { used: number; slots: number } {
    if (this.growing === undefined) return { used: this.table.used, slots: this.table.slots };
    return { used: this.growing.next.used + this.table.used - this.growing.moved, slots: this.growing.next.slots };
  }

  /** Empties the index (it did not match its journal); the owner then inserts every record again. */
  reset(): void {
    this.cancelGrow();
    this.table.close();
    this.table = Table.create(this.path, Math.log2(KEY_INDEX_INITIAL_SLOTS));
    this.claimed = NOTHING_COVERED;
  }

  /** The number stored for this key that `confirm` accepts (the record there carries the key), if any. */
  find(key: string, confirm: (number: number) => boolean): number | undefined {
    this.check();
    const [h1, h2] = hashKey(key);
    try {
      return this.growing?.next.find(h1, h2, confirm) ?? this.table.find(h1, h2, confirm);
    } catch (error) {
      throw this.fail(error);
    }
  }

  /**
   * Adds `key` → `number`, unless the index already holds the key (a stored number that `confirm`
   * accepts): then that number is returned and nothing changes.
   */
  insert(key: string, number: number, confirm: (number: number) => boolean): number | undefined {
    this.check();
    const [h1, h2] = hashKey(key);
    try {
      // The new table must not pass half full with the old entries it has yet to take counted in.
      if (this.growing !== undefined && (this.growing.next.used + this.table.used - this.growing.moved) * 2 >= this.growing.next.slots) this.finishGrow();
      if (this.growing === undefined && this.table.full) this.startGrow();
      if (this.growing !== undefined) {
        return this.table.find(h1, h2, confirm) ?? this.growing.next.insert(h1, h2, number, confirm);
      }
      return this.table.insert(h1, h2, number, confirm);
    } catch (error) {
      throw this.fail(error);
    }
  }

  /**
   * Makes the header say the index covers `coverage`: syncs the slots, then writes and syncs the
   * header. Skipped while a grow is in progress (the grown table gets its checkpoint when it is
   * swapped in).
   */
  async checkpoint(coverage: Coverage): Promise<void> {
    if (this.growing !== undefined || this.failure !== undefined || this.closed) return;
    while (this.checkpointing !== undefined) await this.checkpointing.catch(() => undefined);
    if (this.growing !== undefined || this.failure !== undefined || this.closed) return;
    const table = this.table;
    const lowered = this.lowered;
    const run = (async () => {
      await datasync(table.fd);
      // A swapped table, or a cut since this began (its claim may include the cut records): skip.
      if (table !== this.table || this.closed || lowered !== this.lowered) return;
      table.writeHeader(coverage);
      await datasync(table.fd);
      this.claimed = coverage;
    })();
    this.checkpointing = run;
    try {
      await run;
    } catch (error) {
      throw this.fail(error);
    } finally {
      this.checkpointing = undefined;
    }
  }

  /** Durably lowers what the header claims (records from `coverage.covered` on are being cut). */
  lower(coverage: Coverage): void {
    this.check();
    try {
      // The slots first, then the header that claims them: a power loss between the two must not
      // leave a header claiming slots that never reached the disk.
      this.lowered += 1;
      fdatasyncSync(this.table.fd);
      this.table.writeHeader(coverage);
      fdatasyncSync(this.table.fd);
      this.claimed = coverage;
    } catch (error) {
      throw this.fail(error);
    }
  }

  /** Set once an index read or write failed; the index answers nothing after that. */
  get failed(): Error | undefined {
    return this.failure;
  }

  private check(): void {
    if (this.failure !== undefined) throw this.failure;
    assert.ok(!this.closed, 'the key index is open');
  }

  private fail(cause: unknown): Error {
    this.failure ??= new StorageError('WRITE_FAILED', `writing ${this.path} failed: ${(cause as Error).message}`, { cause });
    this.cancelGrow();
    return this.failure;
  }

  private startGrow(): void {
    const next = Table.create(`${this.path}.grow`, this.table.slotsLog2 + 1);
    this.growing = { next, copied: 0, moved: 0, timer: undefined };
    this.scheduleGrowStep();
  }

  private scheduleGrowStep(): void {
    const growing = this.growing;
    if (growing === undefined) return;
    growing.timer = setImmediate(() => {
      growing.timer = undefined;
      if (this.growing !== growing) return; // Finished (or cancelled) meanwhile.
      try {
        this.growStep(KEY_INDEX_GROW_STEP_SLOTS);
      } catch (error) {
        this.fail(error);
        return;
      }
      this.scheduleGrowStep();
    });
    growing.timer.unref();
  }

  /** Copies the next `slots` slots of the old table; the last step swaps the tables. */
  private growStep(slots: number): void {
    const growing = this.growing!;
    const count = Math.min(slots, this.table.slots - growing.copied);
    for (const [h1, h2, number] of this.table.entries(growing.copied, count)) {
      growing.next.insert(h1, h2, number, () => false);
      growing.moved += 1;
    }
    growing.copied += count;
    if (growing.copied < this.table.slots) return;
    // Every old entry is in the new table, and every insert since the grow began went there: it
    // replaces the old one. Its header still claims nothing, so nothing has to be synced first (a
    // crash before the next checkpoint only means a full re-index on start); that checkpoint runs at
    // once, off the event loop, and claims again what the old header claimed.
    const old = this.table;
    renameSync(growing.next.path, this.path);
    growing.next.path = this.path;
    this.table = growing.next;
    this.growing = undefined;
    if (growing.timer !== undefined) clearImmediate(growing.timer);
    // A checkpoint of the old table may still be syncing its descriptor: close it after that.
    if (this.checkpointing === undefined) old.close();
    else void this.checkpointing.catch(() => undefined).then(() => old.close());
    void this.checkpoint(this.claimed).catch(() => undefined);
  }

  private finishGrow(): void {
    while (this.growing !== undefined) this.growStep(this.table.slots);
  }

  private cancelGrow(): void {
    const growing = this.growing;
    if (growing === undefined) return;
    if (growing.timer !== undefined) clearImmediate(growing.timer);
    this.growing = undefined;
    growing.next.close();
    rmSync(growing.next.path, { force: true });
  }

  /** Writes the header for `coverage` and closes; an index mid-grow is left to be grown again. */
  async close(coverage: Coverage): Promise<void> {
    if (this.closed) return;
    while (this.checkpointing !== undefined) await this.checkpointing.catch(() => undefined);
    if (this.growing !== undefined && this.failure === undefined) {
      try {
        this.finishGrow();
      } catch (error) {
        this.fail(error);
      }
    }
    if (this.failure === undefined) await this.checkpoint(coverage).catch(() => undefined);
    this.closed = true;
    this.cancelGrow();
    this.table.close();
  }
}
