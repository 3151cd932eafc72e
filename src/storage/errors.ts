// Storage failures, each with a stable code a caller can branch on. Every one is also a
// BazaarError STORAGE_FAILED (503), which makes the role stop: it can no longer promise durability.
import { BazaarError } from '../core/errors.ts';

export type StorageErrorCode =
  /** Another live process holds the file's lock. */
  | 'LOCKED'
  /** The lock was taken from this process (its lock file vanished or went stale). */
  | 'LOCK_LOST'
  /** A line, record or index on disk is damaged or not what it must be. */
  | 'CORRUPT'
  /** A write, fsync or truncate failed; the file takes no more writes. */
  | 'WRITE_FAILED'
  /** A read of a durable record failed. */
  | 'READ_FAILED';

export class StorageError extends BazaarError {
  readonly storageCode: StorageErrorCode;

  constructor(storageCode: StorageErrorCode, message: string, options: { cause?: unknown } = {}) {
    super('STORAGE_FAILED', message, options);
    this.name = 'StorageError';
    this.storageCode = storageCode;
  }
}
