// What a replica makes of its data folder at start, from what it found there: sound (serve as
// before), recovering (it may have lost what it acknowledged: copy from the peers before counting,
// order/replica/recovery.ts), or another's (refuse to start). Pure, so every case is a unit test.
//
// A replica that never knew it lost something would vote and count with a log that lacks
// acknowledged orders, so every doubt is a recovery: recovery is always safe while a majority of
// disks is sound, and only costs a copy.
import { recoveringState, type ReplicaState, type StateRead } from './state.ts';
import type { IdentityRead } from './identity.ts';

export interface DiskFacts {
  readonly identity: IdentityRead;
  readonly state: StateRead;
  /** The log file: whether it was there, how many entries it holds, and a damaged line cut from it. */
  readonly log: { readonly present: boolean; readonly length: number; readonly damage?: string };
}

export type Verdict =
  /** Serve with this state; `adopt`: a folder from before disk identities, to be given one. */
  | { readonly kind: 'sound'; readonly state: ReplicaState; readonly adopt: boolean }
  /** Recover from the peers, starting from this state; `why` is said in the log and the dashboard. */
  | { readonly kind: 'recovering'; readonly state: ReplicaState; readonly why: string }
  /** The folder belongs to another cluster or replica: an operator's mistake, not a lost disk. */
  | { readonly kind: 'foreign'; readonly why: string };

export function judgeDisk(facts: DiskFacts, expected: { readonly cluster: string; readonly replica: number }): Verdict {
  const { identity, state, log } = facts;
  const remembered = state.kind === 'ok' ? state.state : undefined;
  const recover = (why: string): Verdict => ({ kind: 'recovering', state: recoveringState(remembered), why });
  if (identity.kind === 'ok' && (identity.identity.cluster !== expected.cluster || identity.identity.replica !== expected.replica)) {
    const { cluster, replica } = identity.identity;
    return { kind: 'foreign', why: `this data folder belongs to replica ${replica} of cluster "${cluster}", not replica ${expected.replica} of cluster "${expected.cluster}"` };
  }
  if (log.damage !== undefined) return recover(log.damage);
  if (state.kind === 'ok' && state.state.recovering) return recover('it was recovering when it stopped');
  if (identity.kind === 'damaged') return recover(identity.why);
  if (identity.kind === 'missing') {
    if (state.kind === 'missing' && log.length === 0) return recover('its data folder is empty (a new disk, or a lost one); a new cluster is made with `bazaar init` or `bazaar up`');
    // A folder from before disk identities, whole: keep it, and give it one.
    if (state.kind === 'ok' && log.present) return { kind: 'sound', state: state.state, adopt: true };
    return recover(state.kind === 'damaged' ? state.why : 'its state file is missing');
  }
  if (state.kind === 'missing') return recover('its state file is missing');
  if (state.kind === 'damaged') return recover(state.why);
  if (!log.present) return recover('its order log is missing');
  return { kind: 'sound', state: state.state, adopt: false };
}
