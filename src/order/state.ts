// What a replica must remember across crashes besides its log: the highest epoch it has joined (so a
// stale leader can never write to it again), who leads that epoch, the epoch of the last leader
// whose whole starting log it holds (which decides whose log wins an election), and how far into the
// catalog's journal it has checked that every trade has a committed order.
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import path from 'node:path';

export interface ReplicaState {
  /** The highest epoch this replica has joined; messages from older epochs are refused. */
  readonly epoch: number;
  /** The leader of `epoch`, or null when none is known. */
  readonly leaderId: number | null;
  /**
   * The latest epoch whose leader's starting log this replica's log contains in full; logs with
   * a higher logEpoch, then more entries, win elections (Viewstamped Replication's "last normal view").
   */
  readonly logEpoch: number;
  /**
   * Every catalog trade before this position in the catalog's journal has a committed order (checked
   * by this replica while it led). A new leader reconciles from here, not from the start: committed
   * orders are never lost, so the check need not be repeated. Absent in older state files: 0.
   */
  readonly reconciled: number;
}

export const INITIAL_STATE: ReplicaState = Object.freeze({ epoch: 0, leaderId: null, logEpoch: 0, reconciled: 0 });

export interface StateStore {
  load(): Promise<ReplicaState>;
  /** Resolves once the state is durable. */
  save(state: ReplicaState): Promise<void>;
}

function parseState(value: unknown, file: string): ReplicaState {
  const state = value as Partial<ReplicaState> | null;
  const ok =
    state !== null &&
    typeof state === 'object' &&
    Number.isInteger(state.epoch) &&
    (state.leaderId === null || Number.isInteger(state.leaderId)) &&
    Number.isInteger(state.logEpoch) &&
    (state.logEpoch ?? 0) <= (state.epoch ?? 0) &&
    (state.reconciled === undefined || (Number.isInteger(state.reconciled) && state.reconciled >= 0));
  if (!ok) throw new Error(`${file} is not a valid replica state; restore it or remove the whole replica data folder to rebuild it from its peers`);
  return { epoch: state.epoch!, leaderId: state.leaderId!, logEpoch: state.logEpoch!, reconciled: state.reconciled ?? 0 };
}

/**
 * The state as a JSON file, replaced atomically: write a temp file, fsync, rename, fsync the folder.
 * Saves run one at a time in call order, so the newest state is the one left on disk.
 */
export class FileStateStore implements StateStore {
  private readonly file: string;
  private saving: Promise<void> = Promise.resolve();

  constructor(file: string) {
    this.file = file;
  }

  async load(): Promise<ReplicaState> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return INITIAL_STATE;
      throw error;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      value = null;
    }
    return parseState(value, this.file);
  }

  save(state: ReplicaState): Promise<void> {
    const saved = this.saving.catch(() => undefined).then(() => this.write(state));
    this.saving = saved;
    return saved;
  }

  private async write(state: ReplicaState): Promise<void> {
    const directory = path.dirname(this.file);
    await mkdir(directory, { recursive: true });
    const temp = `${this.file}.tmp`;
    const handle = await open(temp, 'w');
    try {
      await handle.writeFile(`${JSON.stringify({ epoch: state.epoch, leaderId: state.leaderId, logEpoch: state.logEpoch, reconciled: state.reconciled })}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, this.file);
    const folder = await open(directory, 'r');
    try {
      await folder.sync();
    } finally {
      await folder.close();
    }
  }
}

export class MemoryStateStore implements StateStore {
  state: ReplicaState = INITIAL_STATE;

  async load(): Promise<ReplicaState> {
    return this.state;
  }

  async save(state: ReplicaState): Promise<void> {
    this.state = { ...state };
  }
}
