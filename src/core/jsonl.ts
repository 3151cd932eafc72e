// An append-only JSONL file owned by one process: group commit (one write + fdatasync for every
// record that queued while the previous one ran), a checksum on every line, a torn last line cut on
// open, and a lock file (proper-lockfile) that keeps a second process off it.
import assert from 'node:assert/strict';
import { mkdir, open, readFile, type FileHandle } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { BazaarError } from './errors.ts';
import {
  APPEND_BATCH_RECORDS_MAX,
  APPEND_QUEUE_RECORDS_MAX,
  JSONL_LINE_BYTES_MAX,
  LOCK_RETRIES_MAX,
  LOCK_STALE_MS,
  LOCK_UPDATE_MS,
} from './limits.ts';

export interface JsonlContents {
  /** Each complete line, parsed, in file order. */
  readonly records: unknown[];
  /** Byte offset just past each record's line. */
  readonly ends: number[];
  /** Bytes of the file that were cut because the last line was torn (0 when it was intact). */
  readonly cutBytes: number;
}

interface Pending {
  readonly bytes: Buffer;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

export class CorruptFileError extends Error {
  constructor(file: string, lineNumber: number, reason: string) {
    super(`${file}: line ${lineNumber} is corrupt (${reason}); refusing to start rather than lose or invent data`);
    this.name = 'CorruptFileError';
  }
}

/**
 * One record as a line: its JSON with a last field `crc`, the CRC-32 of that JSON without it, so a
 * line damaged on disk is detected rather than read as a different record. Records are plain objects.
 */
export function jsonlLine(record: object): string {
  const json = JSON.stringify(record);
  assert.ok(json.startsWith('{') && json.length > 2, 'a JSONL record is a non-empty object');
  return `${json.slice(0, -1)},"crc":${crc32(json)}}\n`;
}

/** The record of one line, with its checksum verified and removed; throws if they disagree. */
function parseLine(line: string): unknown {
  const value = JSON.parse(line) as Record<string, unknown>;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not a JSON object');
  const { crc, ...record } = value;
  if (typeof crc !== 'number') throw new Error('no checksum');
  if (crc32(JSON.stringify(record)) !== crc) throw new Error('checksum mismatch');
  return record;
}

/** Splits file contents into parsed records, cutting a torn tail. Pure, so it is unit-tested alone. */
export function parseJsonl(file: string, contents: Buffer): { records: unknown[]; ends: number[]; validBytes: number } {
  const records: unknown[] = [];
  const ends: number[] = [];
  let start = 0;
  let validBytes = 0;
  let lineNumber = 0;
  while (start < contents.length) {
    const end = contents.indexOf(0x0a, start);
    lineNumber += 1;
    if (end === -1) break; // No newline: the last write was torn; what follows validBytes is cut.
    const isLast = end === contents.length - 1;
    const line = contents.subarray(start, end);
    let record: unknown;
    try {
      if (line.length > JSONL_LINE_BYTES_MAX) throw new Error(`longer than ${JSONL_LINE_BYTES_MAX} bytes`);
      record = parseLine(line.toString('utf8'));
    } catch (error) {
      // A crash can leave the last line complete in length but not in content; only there is a bad
      // line a torn write rather than corruption.
      if (isLast) break;
      throw new CorruptFileError(file, lineNumber, (error as Error).message);
    }
    records.push(record);
    start = end + 1;
    ends.push(start);
    validBytes = start;
  }
  return { records, ends, validBytes };
}

async function fsyncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export class JsonlFile {
  readonly path: string;
  private readonly handle: FileHandle;
  private readonly release: () => Promise<void>;
  private queue: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private failure: Error | undefined;
  private closed = false;
  private bytes: number;

  private constructor(filePath: string, handle: FileHandle, release: () => Promise<void>, bytes: number) {
    this.path = filePath;
    this.handle = handle;
    this.release = release;
    this.bytes = bytes;
  }

  /**
   * Opens (creating if needed) and locks the file, cuts a torn last line, and returns its records.
   * `onLockLost` is called if another process takes the lock over while this one holds it.
   */
  static async open(
    filePath: string,
    onLockLost: (error: Error) => void,
    options: { lockRetries?: number } = {},
  ): Promise<{ file: JsonlFile; contents: JsonlContents }> {
    const directory = path.dirname(filePath);
    await mkdir(directory, { recursive: true });
    const created = await open(filePath, 'a');
    await created.close();
    await fsyncDirectory(directory);

    let release: () => Promise<void>;
    try {
      release = await lockfile.lock(filePath, {
        stale: LOCK_STALE_MS,
        update: LOCK_UPDATE_MS,
        realpath: false,
        retries: { retries: options.lockRetries ?? LOCK_RETRIES_MAX, factor: 1, minTimeout: LOCK_STALE_MS / 8, maxTimeout: LOCK_STALE_MS / 4 },
        onCompromised: onLockLost,
      });
    } catch (error) {
      throw new Error(`${filePath} is locked by another running process (${(error as Error).message}); stop it first`);
    }

    try {
      const contents = await readFile(filePath);
      const { records, ends, validBytes } = parseJsonl(filePath, contents);
      const handle = await open(filePath, 'a');
      const cutBytes = contents.length - validBytes;
      if (cutBytes > 0) {
        await handle.truncate(validBytes);
        await handle.datasync();
      }
      return { file: new JsonlFile(filePath, handle, release, validBytes), contents: { records, ends, cutBytes } };
    } catch (error) {
      await release().catch(() => undefined);
      throw error;
    }
  }

  /** Bytes in the file, appended records included once their append resolved. */
  get size(): number {
    return this.bytes;
  }

  /**
   * Appends records as one unit each and resolves once they are on disk (fdatasync). Records of
   * concurrent calls share one write and one fdatasync. Order of calls is order in the file.
   */
  append(records: readonly object[]): Promise<void> {
    if (this.closed) return Promise.reject(new BazaarError('SHUTTING_DOWN', 'the file is closed'));
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.queue.length >= APPEND_QUEUE_RECORDS_MAX) {
      return Promise.reject(new BazaarError('OVERLOADED', `more than ${APPEND_QUEUE_RECORDS_MAX} writes are waiting for the disk; retry later`));
    }
    const text = records.map(jsonlLine).join('');
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ bytes: Buffer.from(text, 'utf8'), resolve, reject });
      this.flushing ??= this.flush();
    });
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, APPEND_BATCH_RECORDS_MAX);
      const bytes = batch.length === 1 ? batch[0]!.bytes : Buffer.concat(batch.map((item) => item.bytes));
      try {
        let written = 0;
        while (written < bytes.length) {
          const { bytesWritten } = await this.handle.write(bytes, written, bytes.length - written, null);
          written += bytesWritten;
        }
        await this.handle.datasync();
      } catch (cause) {
        // After a failed write or fsync the file's tail is unknown: refuse every later write rather
        // than acknowledge anything on top of it. A restart re-reads the file and cuts a torn tail.
        this.failure = new BazaarError('STORAGE_FAILED', `writing ${this.path} failed: ${(cause as Error).message}`, { cause });
        for (const item of [...batch, ...this.queue.splice(0)]) item.reject(this.failure);
        break;
      }
      this.bytes += bytes.length;
      for (const item of batch) item.resolve();
    }
    this.flushing = undefined;
  }

  /**
   * Cuts the file to its first `bytes` bytes and syncs, once every queued append is written. The
   * caller makes sure no append is started until this resolves.
   */
  async truncate(bytes: number): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    while (this.flushing !== undefined) await this.flushing;
    assert.ok(bytes >= 0 && bytes <= this.bytes, 'truncate only cuts what is there');
    try {
      await this.handle.truncate(bytes);
      await this.handle.datasync();
    } catch (cause) {
      this.failure = new BazaarError('STORAGE_FAILED', `truncating ${this.path} failed: ${(cause as Error).message}`, { cause });
      throw this.failure;
    }
    this.bytes = bytes;
  }

  /** Set once a write failed; the file takes no more appends. */
  get failed(): Error | undefined {
    return this.failure;
  }

  /** Waits for queued appends, then closes the file and releases the lock. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.flushing !== undefined) await this.flushing;
    assert.equal(this.queue.length, 0, 'no append may be queued after close');
    await this.handle.close();
    await this.release().catch(() => undefined);
  }
}
