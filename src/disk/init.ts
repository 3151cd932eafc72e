// `bazaar init`: a new cluster's replicas get their disks — an identity, an empty log, a first state —
// before they first start. Only a new cluster: a replica whose disk was lost later needs nothing but
// a start (it recovers from its peers), and a folder that holds anything is left alone. etcd's
// `--initial-cluster-state new` is the model: a cluster's first start is said, never guessed.
import { mkdir, open, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../core/config.ts';
import { ConfigError } from '../core/errors.ts';
import { dataPaths } from '../core/paths.ts';
import { FileStateStore, INITIAL_STATE } from './state.ts';
import { newIdentity, readIdentity, writeIdentity } from './identity.ts';

/** Why replica `id`'s folder cannot be initialised (it holds something), or undefined when it can. */
async function initBlocker(config: Config, id: number): Promise<string | undefined> {
  const paths = dataPaths(config.dataDir);
  const identity = await readIdentity(paths.orderIdentity(id));
  if (identity.kind !== 'missing') return `${paths.orderIdentity(id)} exists: replica ${id}'s disk was initialised already`;
  const state = await new FileStateStore(paths.orderState(id)).read();
  if (state.kind !== 'missing' && !(state.kind === 'ok' && state.state.epoch === 0)) return `${paths.orderState(id)} holds a state: replica ${id} has run before`;
  try {
    if ((await stat(paths.orderLog(id))).size > 0) return `${paths.orderLog(id)} holds orders`;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  return undefined;
}

async function blockers(config: Config, ids: readonly number[]): Promise<string[]> {
  return (await Promise.all(ids.map((id) => initBlocker(config, id)))).filter((why): why is string => why !== undefined);
}

/** Writes each replica's empty log, first state and, last, its identity: a folder without one is not initialised, and init may run again. */
async function initialise(config: Config, ids: readonly number[]): Promise<void> {
  const paths = dataPaths(config.dataDir);
  for (const id of ids) {
    const logPath = paths.orderLog(id);
    await mkdir(path.dirname(logPath), { recursive: true });
    await (await open(logPath, 'a')).close();
    await new FileStateStore(paths.orderState(id)).save(INITIAL_STATE);
    await writeIdentity(paths.orderIdentity(id), newIdentity(config.cluster, id));
  }
}

/** Initialises the disks of replicas `ids` as members of a new cluster; refuses (naming why) if any holds anything. */
export async function initDisks(config: Config, ids: readonly number[]): Promise<void> {
  for (const id of ids) if (!config.orders.some((replica) => replica.id === id)) throw new ConfigError(`replica ${id} is not in the config (${config.configPath})`);
  const found = await blockers(config, ids);
  if (found.length > 0) throw new Error(`not a new cluster: ${found.join('; ')}. A replica whose disk was lost needs no init: start it, and it recovers from its peers`);
  await initialise(config, ids);
}

/** `bazaar up`'s case: when no replica's folder holds anything, initialises every one; whether it did. */
export async function initIfNew(config: Config): Promise<boolean> {
  const ids = config.orders.map((replica) => replica.id);
  if ((await blockers(config, ids)).length > 0) return false;
  await initialise(config, ids);
  return true;
}
