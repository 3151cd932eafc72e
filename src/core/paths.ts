// Every on-disk path of the system, derived from dataDir here and nowhere else.
import path from 'node:path';
import { replicaName } from './config.ts';

export interface DataPaths {
  /** The catalog's checkpoint of the state it derived from the order log. */
  readonly catalogCheckpoint: string;
  orderLog(replicaId: number): string;
  orderState(replicaId: number): string;
  /** Whose disk a replica's data folder is (disk/identity.ts). */
  orderIdentity(replicaId: number): string;
  /** The control socket of `bazaar up`, through which `bazaar admin recover` restarts a role. */
  upSocket: string;
}

/** The key index kept beside a journal (derived data: rebuilt from the journal when it does not match). */
export function keyIndexPath(journalPath: string): string {
  return `${journalPath}.keys`;
}

/** Who holds a data file's lock (beside proper-lockfile's `<file>.lock` directory). */
export function lockOwnerPath(filePath: string): string {
  return `${filePath}.lock.owner`;
}

export function dataPaths(dataDir: string): DataPaths {
  return {
    catalogCheckpoint: path.join(dataDir, 'catalog', 'checkpoint.json'),
    orderLog: (replicaId) => path.join(dataDir, replicaName(replicaId), 'orders.jsonl'),
    orderState: (replicaId) => path.join(dataDir, replicaName(replicaId), 'state.json'),
    orderIdentity: (replicaId) => path.join(dataDir, replicaName(replicaId), 'identity.json'),
    upSocket: path.join(dataDir, 'up.sock'),
  };
}
