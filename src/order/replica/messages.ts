// What goes in and out of the replica's state machine (machine.ts): requests from outside, the
// actions it asks its driver to carry out, and the outcomes that complete them. No logic here.
import type { KeyedTrade, OrderEntry } from '../../core/trade.ts';
import type { ApplyRequest, ApproveCall } from '../../protocol/catalog.ts';
import type { ReplicaStatus } from '../../protocol/health.ts';
import type { AppendReply, AppendRequest, LeaderNotice, PollReply, PollRequest, RecoverRequest } from '../../protocol/replication.ts';
import type { ReplicaState } from '../../disk/state.ts';

/** How a piece of I/O or a request ended. */
export type Outcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: Error };

export const fail = (error: Error): Outcome<never> => ({ ok: false, error });

/** Requests from outside: the frontend (place, notice) and the other replicas (poll, append). */
export type Request =
  | { readonly kind: 'place'; readonly trade: KeyedTrade; readonly origin?: string }
  | { readonly kind: 'notice'; readonly notice: LeaderNotice }
  | { readonly kind: 'poll'; readonly request: PollRequest }
  | { readonly kind: 'append'; readonly request: AppendRequest };

/** A placed order: its number, and its stock's version after the trade (number + 1; for the frontend's cache). */
export interface Placed {
  readonly number: number;
  readonly version: number;
}

/** What the reply to each kind of request carries. */
export interface ReplyValue {
  place: Placed;
  notice: ReplicaStatus;
  poll: PollReply;
  append: AppendReply;
}

/** A message to another replica; its reply (or failure) completes the action. */
export type PeerMessage =
  | { readonly kind: 'poll'; readonly request: PollRequest }
  | { readonly kind: 'append'; readonly request: AppendRequest }
  | { readonly kind: 'entries'; readonly from: number; readonly limit: number }
  /** A recovering replica asks where the cluster stands; answered with a `RecoverReply`. */
  | { readonly kind: 'recover'; readonly request: RecoverRequest }
  /** A recovering replica that follows the leader asks it to send what it lacks now. */
  | { readonly kind: 'rejoin'; readonly id: number };

export type CatalogCall =
  /** Approve a trade before it is logged; answered with an `Approval`. */
  | { readonly kind: 'approve'; readonly call: ApproveCall }
  /** Apply committed entries; answered with an `ApplyReply`. */
  | { readonly kind: 'apply'; readonly request: ApplyRequest };

/** Work for the driver. Each with an `op` must be completed once, with its outcome, unless the replica crashes first. */
export type Action =
  | { readonly kind: 'persist'; readonly op: number; readonly state: ReplicaState }
  | { readonly kind: 'append'; readonly op: number; readonly entries: readonly OrderEntry[] }
  | { readonly kind: 'truncate'; readonly op: number; readonly length: number }
  | { readonly kind: 'send'; readonly op: number; readonly to: number; readonly message: PeerMessage }
  | { readonly kind: 'catalog'; readonly op: number; readonly call: CatalogCall }
  | { readonly kind: 'reply'; readonly request: number; readonly outcome: Outcome<unknown> }
  | { readonly kind: 'note'; readonly message: string }
  /** The log could not be read: the replica has stopped, and the driver applies its storage failure policy. */
  | { readonly kind: 'fault'; readonly error: Error };

/** An action with I/O, before the machine numbers it. */
export type Unnumbered<A> = A extends { readonly op: number } ? Omit<A, 'op'> : never;
export type IoAction = Unnumbered<Action>;
