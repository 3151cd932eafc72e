// A replica's disk says whose it is: the cluster, the replica, and a disk id made when the folder was
// first initialised (by `bazaar init`, `bazaar up` on a new cluster, or a replica that starts
// recovering on an empty disk). A folder without it is empty, lost, or from before identities.
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { replaceFile } from '../storage/atomic.ts';

export interface DiskIdentity {
  readonly cluster: string;
  readonly replica: number;
  /** Made once, when this disk was initialised: a replaced disk has another. */
  readonly disk: string;
  /** ISO time it was made. */
  readonly created: string;
}

export type IdentityRead = { readonly kind: 'missing' } | { readonly kind: 'damaged'; readonly why: string } | { readonly kind: 'ok'; readonly identity: DiskIdentity };

export function newIdentity(cluster: string, replica: number): DiskIdentity {
  return { cluster, replica, disk: randomUUID(), created: new Date().toISOString() };
}

export async function readIdentity(file: string): Promise<IdentityRead> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
    throw error;
  }
  let value: Partial<DiskIdentity> | null;
  try {
    value = JSON.parse(text) as Partial<DiskIdentity> | null;
  } catch {
    return { kind: 'damaged', why: `${file} is not JSON` };
  }
  const ok = value !== null && typeof value === 'object' && typeof value.cluster === 'string' && Number.isInteger(value.replica) && typeof value.disk === 'string' && typeof value.created === 'string';
  if (!ok) return { kind: 'damaged', why: `${file} is not a disk identity` };
  const { cluster, replica, disk, created } = value as DiskIdentity;
  return { kind: 'ok', identity: { cluster, replica, disk, created } };
}

/** Writes the identity atomically (a crash leaves the old file or the new, never half of one). */
export function writeIdentity(file: string, identity: DiskIdentity): Promise<void> {
  return replaceFile(file, `${JSON.stringify(identity)}\n`);
}
