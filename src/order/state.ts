// What a replica must remember across crashes besides its log: the highest epoch it has joined (so a
// stale leader can never write to it again), who leads that epoch, the epoch of the last leader
// whose whole starting log it holds (which decides whose log wins an election).
import { readFile } from 'node:fs/promises';
import { replaceFile } from '../storage/atomic.ts';

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
}

export const INITIAL_STATE: ReplicaState = Object.freeze({ epoch: 0, leaderId: null, logEpoch: 0 });

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
    (state.logEpoch ?? 0) <= (state.epoch ?? 0);
  if (!ok) throw new Error(`${file} is not a valid replica state; restore it or remove the whole replica data folder to rebuild it from its peers`);
  return { epoch: state.epoch!, leaderId: state.leaderId!, logEpoch: state.logEpoch! };
}

/** The state as a JSON file, replaced atomically; saves run one at a time in call order, so the newest state is the one left on disk. */
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

  private write(state: ReplicaState): Promise<void> {
    return replaceFile(this.file, `${JSON.stringify({ epoch: state.epoch, leaderId: state.leaderId, logEpoch: state.logEpoch })}\n`);
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
