// One process per data file: proper-lockfile's lock directory (`<file>.lock`, created with mkdir,
// refreshed every second, taken over once not refreshed for 2 s), plus an owner record beside it
// that names the process holding it. A restart after `kill -9` then takes the dead process's lock at
// once instead of waiting out the 2 s: the record says which lock directory it belongs to (inode and
// birth time), so a record left by an earlier holder is never believed about a later lock.
import { readFileSync } from 'node:fs';
import { readFile, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import lockfile from 'proper-lockfile';
import { LOCK_RETRIES_MAX, LOCK_STALE_MS, LOCK_UPDATE_MS } from '../core/limits.ts';
import { lockOwnerPath } from '../core/paths.ts';
import { StorageError } from './errors.ts';

interface Owner {
  readonly pid: number;
  readonly host: string;
  /** The kernel's boot id: a record from before a reboot names a process that is gone. */
  readonly boot: string;
  /** Which lock directory this record is about: inode and birth time in ns. */
  readonly lock: string;
}

const BOOT_ID = (() => {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return '';
  }
})();

/** Inode and birth time of the lock directory, or undefined if it is gone or the birth time is unknown. */
async function lockIdentity(lockPath: string): Promise<string | undefined> {
  try {
    const info = await stat(lockPath, { bigint: true });
    return info.birthtimeNs === 0n ? undefined : `${info.ino}:${info.birthtimeNs}`;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readOwner(filePath: string): Promise<Owner | undefined> {
  try {
    const owner = JSON.parse(await readFile(lockOwnerPath(filePath), 'utf8')) as Partial<Owner>;
    return Number.isInteger(owner.pid) && typeof owner.host === 'string' && typeof owner.boot === 'string' && typeof owner.lock === 'string' ? (owner as Owner) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Removes the lock of `filePath` if its owner record names a process on this host that no longer
 * runs; returns whether it did, and the owner if the record is about this lock. Anything uncertain
 * (no record, a record about another lock, another host) leaves the lock to proper-lockfile's
 * staleness rule.
 */
async function removeIfOwnerDead(filePath: string, lockPath: string): Promise<{ removed: boolean; owner: Owner | undefined }> {
  const identity = await lockIdentity(lockPath);
  const record = await readOwner(filePath);
  const owner = identity !== undefined && record?.lock === identity ? record : undefined;
  if (owner === undefined || owner.host !== hostname()) return { removed: false, owner };
  if (owner.boot === BOOT_ID && alive(owner.pid)) return { removed: false, owner };
  // Checked again right before the removal, so a lock taken meanwhile by someone else is left alone.
  if ((await lockIdentity(lockPath)) !== identity) return { removed: false, owner };
  await rmdir(lockPath).catch(() => undefined);
  return { removed: true, owner };
}

/**
 * Locks `filePath` for this process and resolves with the release. Waits (up to `retries` attempts,
 * a quarter of the stale time apart) while another live process holds it; takes over at once from
 * a process that died. `onLockLost` is called if the lock is taken over while this process holds it.
 */
export async function lockFile(filePath: string, onLockLost: (error: Error) => void, retries = LOCK_RETRIES_MAX): Promise<() => Promise<void>> {
  const lockPath = `${filePath}.lock`;
  let owner: Owner | undefined;
  for (let attempt = 0; ; attempt += 1) {
    try {
      const release = await lockfile.lock(filePath, { stale: LOCK_STALE_MS, update: LOCK_UPDATE_MS, realpath: false, retries: 0, onCompromised: onLockLost });
      const identity = await lockIdentity(lockPath);
      if (identity !== undefined) {
        const record: Owner = { pid: process.pid, host: hostname(), boot: BOOT_ID, lock: identity };
        await writeFile(lockOwnerPath(filePath), `${JSON.stringify(record)}\n`);
      }
      return async () => {
        await rm(lockOwnerPath(filePath), { force: true });
        await release();
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ELOCKED') throw error;
      const outcome = await removeIfOwnerDead(filePath, lockPath);
      owner = outcome.owner;
      if (outcome.removed) continue;
      if (attempt >= retries) {
        const holder = owner === undefined ? 'another running process' : `process ${owner.pid} on ${owner.host}`;
        throw new StorageError('LOCKED', `${filePath} is locked by ${holder}; stop it first`);
      }
      await sleep(LOCK_STALE_MS / 4);
    }
  }
}
