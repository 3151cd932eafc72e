// What a replica must remember across crashes besides its log: the highest epoch it has joined (so a
// stale leader can never write to it again), who leads that epoch, the epoch of the last leader
// whose whole starting log it holds (which decides whose log wins an election), and whether it is
// recovering from a lost or damaged disk (src/disk/), so a crash mid-recovery stays out of
// majorities.
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
  /**
   * The disk lost or damaged what this replica may have acknowledged: it takes part in no election
   * and no majority until it holds the current leader's log (replica/recovery.ts).
   */
  readonly recovering: boolean;
}

export const INITIAL_STATE: ReplicaState = Object.freeze({ epoch: 0, leaderId: null, logEpoch: 0, recovering: false });

/** The state a replica starts recovery with: the epoch it remembers (if any), nothing else trusted. */
export function recoveringState(remembered: ReplicaState | undefined): ReplicaState {
  return { epoch: remembered?.epoch ?? 0, leaderId: null, logEpoch: 0, recovering: true };
}

export interface StateStore {
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
    (state.recovering === undefined || typeof state.recovering === 'boolean');
  if (!ok) throw new Error(`${file} is not a valid replica state`);
  return { epoch: state.epoch!, leaderId: state.leaderId!, logEpoch: state.logEpoch!, recovering: state.recovering ?? false };
}

export type StateRead = { readonly kind: 'missing' } | { readonly kind: 'damaged'; readonly why: string } | { readonly kind: 'ok'; readonly state: ReplicaState };

/** The state as a JSON file, replaced atomically; saves run one at a time in call order, so the newest state is the one left on disk. */
export class FileStateStore implements StateStore {
  private readonly file: string;
  private saving: Promise<void> = Promise.resolve();

  constructor(file: string) {
    this.file = file;
  }

  /** The file as it is: missing, damaged (why), or a state. Other read errors throw. */
  async read(): Promise<StateRead> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
      throw error;
    }
    try {
      return { kind: 'ok', state: parseState(JSON.parse(text), this.file) };
    } catch (error) {
      return { kind: 'damaged', why: error instanceof SyntaxError ? `${this.file} is not JSON` : (error as Error).message };
    }
  }

  save(state: ReplicaState): Promise<void> {
    const saved = this.saving.catch(() => undefined).then(() => this.write(state));
    this.saving = saved;
    return saved;
  }

  private write(state: ReplicaState): Promise<void> {
    return replaceFile(this.file, `${JSON.stringify({ epoch: state.epoch, leaderId: state.leaderId, logEpoch: state.logEpoch, recovering: state.recovering })}\n`);
  }
}

export class MemoryStateStore implements StateStore {
  state: ReplicaState = INITIAL_STATE;

  async save(state: ReplicaState): Promise<void> {
    this.state = { ...state };
  }
}
