// Opening a replica's data folder at start: the log (a damaged line is cut, the file kept aside for
// the operator), the state, the disk's identity, and the verdict on them (verdict.ts). A replica whose
// verdict is recovering writes that down before anything else, so a crash mid-recovery stays out of
// majorities too.
import { copyFile, open, stat } from 'node:fs/promises';
import type { Config } from '../core/config.ts';
import { dataPaths } from '../core/paths.ts';
import { type OrderLog, openOrderLog } from './log.ts';
import { FileStateStore, type ReplicaState } from './state.ts';
import { CorruptFileError } from '../storage/jsonl.ts';
import { type DiskIdentity, newIdentity, readIdentity, writeIdentity } from './identity.ts';
import { judgeDisk } from './verdict.ts';

export interface OpenedDisk {
  readonly log: OrderLog;
  /** Bytes of a torn last line cut from the log. */
  readonly cutBytes: number;
  readonly stateStore: FileStateStore;
  readonly state: ReplicaState;
  readonly identity: DiskIdentity;
  /** Why this replica recovers from its peers; undefined when its disk is sound. */
  readonly recovering: string | undefined;
  /** What else the operator should hear (a folder given an identity, a damaged file kept aside). */
  readonly notes: readonly string[];
}

/** A disk that is not this replica's (another cluster's or replica's): the replica refuses to start. */
export class ForeignDiskError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ForeignDiskError';
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/**
 * Opens the log; a line damaged anywhere but at the end (a torn write is cut as before) makes it
 * keep the lines before it: the whole file is first copied aside, then cut there.
 */
async function openLog(file: string, onLockLost: (error: Error) => void): Promise<{ log: OrderLog; cutBytes: number; damage?: string; savedAs?: string }> {
  try {
    return await openOrderLog(file, onLockLost);
  } catch (error) {
    if (!(error instanceof CorruptFileError)) throw error;
    const savedAs = `${file}.damaged-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    await copyFile(file, savedAs);
    const handle = await open(file, 'r+');
    try {
      await handle.truncate(error.goodBytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    const opened = await openOrderLog(file, onLockLost);
    return { ...opened, damage: `line ${error.lineNumber} of its order log is damaged (${error.reason}); it keeps the ${error.lineNumber - 1} lines before it`, savedAs };
  }
}

export async function openReplicaDisk(config: Config, id: number, onLockLost: (error: Error) => void): Promise<OpenedDisk> {
  const paths = dataPaths(config.dataDir);
  const logPath = paths.orderLog(id);
  const identityFile = paths.orderIdentity(id);
  const present = await exists(logPath);
  const { log, cutBytes, damage, savedAs } = await openLog(logPath, onLockLost);
  try {
    const stateStore = new FileStateStore(paths.orderState(id));
    const [identityRead, stateRead] = await Promise.all([readIdentity(identityFile), stateStore.read()]);
    const verdict = judgeDisk({ identity: identityRead, state: stateRead, log: { present, length: log.length, damage } }, { cluster: config.cluster, replica: id });
    if (verdict.kind === 'foreign') throw new ForeignDiskError(`order ${id}: ${verdict.why} (${identityFile}); check dataDir and --id`);
    const notes: string[] = [];
    if (savedAs !== undefined) notes.push(`the damaged log was kept as ${savedAs}`);
    let identity = identityRead.kind === 'ok' ? identityRead.identity : undefined;
    if (identity === undefined) {
      identity = newIdentity(config.cluster, id);
      if (verdict.kind === 'sound') notes.push(`gave ${identityFile} to a data folder from before disk identities`);
    }
    if (verdict.kind === 'recovering') {
      // Recovering is durable before the replica answers anyone.
      await stateStore.save(verdict.state);
    }
    if (identityRead.kind !== 'ok') await writeIdentity(identityFile, identity);
    return { log, cutBytes, stateStore, state: verdict.state, identity, recovering: verdict.kind === 'recovering' ? verdict.why : undefined, notes };
  } catch (error) {
    await log.close();
    throw error;
  }
}
