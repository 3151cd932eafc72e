// order <-> order: the messages replicas exchange, and parsers that turn untrusted JSON into them.
// The frontend's leader notice is here too: it is the replicas' election input.
import { BazaarError } from '../core/errors.ts';
import { count, object } from './parse.ts';
import { REPLICATION_BATCH_ENTRIES_MAX, REPLICATION_BODY_BYTES_MAX } from '../core/limits.ts';
import { parseOrderHealth } from './health.ts';
import { get, parseDone, post, queryCount } from './message.ts';
import { type OrderEntry, parseOrderEntry } from '../core/trade.ts';

/** Enough of an entry to tell whether two logs agree there. */
export interface EntryRef {
  readonly number: number;
  readonly epoch: number;
  readonly key: string;
}

/** The frontend's word on who leads which epoch. */
export interface LeaderNotice {
  readonly epoch: number;
  readonly leaderId: number;
}

/** A new leader asking a peer to join its epoch and say how complete its log is. */
export interface PollRequest {
  readonly epoch: number;
  readonly candidateId: number;
}

export type PollReply =
  | { readonly ok: true; readonly epoch: number; readonly logEpoch: number; readonly length: number }
  /** Not joined: in a newer epoch (or this one under another leader), or recovering (it takes part in no election). */
  | { readonly ok: false; readonly epoch: number; readonly recovering?: true };

/** Entries from the leader: they continue the follower's log after `prev` (at number from - 1). */
export interface AppendRequest {
  readonly epoch: number;
  readonly leaderId: number;
  /** Length of the leader's log when it took the epoch; a follower holding that much has its whole starting log. */
  readonly startLength: number;
  readonly from: number;
  readonly prev: EntryRef | null;
  readonly entries: readonly OrderEntry[];
}

export type AppendReply =
  /** `recovering`: the follower holds these entries but counts toward no majority yet (replica/recovery.ts). */
  | { readonly ok: true; readonly length: number; readonly recovering?: true }
  /** Recovering and not yet following this leader: try again later. */
  | { readonly ok: false; readonly reason: 'recovering' }
  | { readonly ok: false; readonly reason: 'stale'; readonly epoch: number }
  | { readonly ok: false; readonly reason: 'gap'; readonly length: number }
  | { readonly ok: false; readonly reason: 'mismatch' };

export function parseLeaderNotice(body: unknown): LeaderNotice {
  const value = object(body, 'leader notice');
  return { epoch: count(value.epoch, 'epoch', 1), leaderId: count(value.leaderId, 'leaderId', 1) };
}

export function parsePollRequest(body: unknown): PollRequest {
  const value = object(body, 'poll');
  return { epoch: count(value.epoch, 'epoch', 1), candidateId: count(value.candidateId, 'candidateId', 1) };
}

function parseEntryRef(value: unknown): EntryRef | null {
  if (value === null) return null;
  const ref = object(value, 'prev');
  if (typeof ref.key !== 'string') throw new BazaarError('BAD_REQUEST', 'field "prev.key" must be a string');
  return { number: count(ref.number, 'prev.number'), epoch: count(ref.epoch, 'prev.epoch'), key: ref.key };
}

export function parseAppendRequest(body: unknown): AppendRequest {
  const value = object(body, 'append');
  const from = count(value.from, 'from');
  if (!Array.isArray(value.entries) || value.entries.length > REPLICATION_BATCH_ENTRIES_MAX) {
    throw new BazaarError('BAD_REQUEST', `field "entries" must be an array of at most ${REPLICATION_BATCH_ENTRIES_MAX} entries`);
  }
  const entries = value.entries.map((entry, index) => {
    try {
      return parseOrderEntry(entry, from + index, 'append');
    } catch (error) {
      throw new BazaarError('BAD_REQUEST', (error as Error).message);
    }
  });
  const prev = parseEntryRef(value.prev ?? null);
  if ((from === 0) !== (prev === null) || (prev !== null && prev.number !== from - 1)) {
    throw new BazaarError('BAD_REQUEST', 'field "prev" must be the entry before "from" (null when from is 0)');
  }
  return {
    epoch: count(value.epoch, 'epoch', 1),
    leaderId: count(value.leaderId, 'leaderId', 1),
    startLength: count(value.startLength, 'startLength'),
    from,
    prev,
    entries,
  };
}

export function parsePollReply(value: unknown): PollReply {
  const reply = object(value, 'poll reply', 'UPSTREAM_BAD_REPLY');
  const epoch = count(reply.epoch, 'epoch', 0, 'UPSTREAM_BAD_REPLY');
  if (reply.ok === true) return { ok: true, epoch, logEpoch: count(reply.logEpoch, 'logEpoch', 0, 'UPSTREAM_BAD_REPLY'), length: count(reply.length, 'length', 0, 'UPSTREAM_BAD_REPLY') };
  return reply.recovering === true ? { ok: false, epoch, recovering: true } : { ok: false, epoch };
}

export function parseAppendReply(value: unknown): AppendReply {
  const reply = object(value, 'append reply', 'UPSTREAM_BAD_REPLY');
  if (reply.ok === true) {
    const length = count(reply.length, 'length', 0, 'UPSTREAM_BAD_REPLY');
    return reply.recovering === true ? { ok: true, length, recovering: true } : { ok: true, length };
  }
  if (reply.reason === 'recovering') return { ok: false, reason: 'recovering' };
  if (reply.reason === 'stale') return { ok: false, reason: 'stale', epoch: count(reply.epoch, 'epoch', 0, 'UPSTREAM_BAD_REPLY') };
  if (reply.reason === 'gap') return { ok: false, reason: 'gap', length: count(reply.length, 'length', 0, 'UPSTREAM_BAD_REPLY') };
  if (reply.reason === 'mismatch') return { ok: false, reason: 'mismatch' };
  throw new BazaarError('UPSTREAM_BAD_REPLY', 'append reply has no known reason');
}

export function parseEntries(value: unknown, from: number): OrderEntry[] {
  if (!Array.isArray(value) || value.length > REPLICATION_BATCH_ENTRIES_MAX) throw new BazaarError('UPSTREAM_BAD_REPLY', 'entries reply is not a bounded array');
  return value.map((entry, index) => parseOrderEntry(entry, from + index, 'entries reply'));
}

/** Which entries a new leader (or the dashboard) asks a replica for. */
export interface EntriesRequest {
  readonly from: number;
  readonly limit: number;
}

/** A replica that lost or damaged its disk asks a peer where the cluster stands (replica/recovery.ts). */
export interface RecoverRequest {
  readonly id: number;
}

/** A peer's answer: its epoch and leader, whether it serves as that leader, its log's length, and whether it is recovering itself. */
export interface RecoverReply {
  readonly epoch: number;
  readonly leaderId: number | null;
  readonly serving: boolean;
  readonly length: number;
  readonly recovering: boolean;
}

export function parseRecoverRequest(body: unknown): RecoverRequest {
  return { id: count(object(body, 'recover').id, 'id', 1) };
}

export function parseRecoverReply(value: unknown): RecoverReply {
  const reply = object(value, 'recover reply', 'UPSTREAM_BAD_REPLY');
  if (typeof reply.serving !== 'boolean' || typeof reply.recovering !== 'boolean') throw new BazaarError('UPSTREAM_BAD_REPLY', 'recover reply lacks "serving" or "recovering"');
  return {
    epoch: count(reply.epoch, 'epoch', 0, 'UPSTREAM_BAD_REPLY'),
    leaderId: reply.leaderId === null ? null : count(reply.leaderId, 'leaderId', 1, 'UPSTREAM_BAD_REPLY'),
    serving: reply.serving,
    length: count(reply.length, 'length', 0, 'UPSTREAM_BAD_REPLY'),
    recovering: reply.recovering,
  };
}

/** A returning replica asks the leader to bring it up to date now. */
export interface RejoinRequest {
  readonly id: number;
}

export function parseRejoinRequest(body: unknown): RejoinRequest {
  return { id: count(object(body, 'rejoin').id, 'id', 1) };
}

/** frontend -> order: who leads which epoch; the reply is the replica's health once it has joined (or, as the candidate, serves). */
export const LEADER_NOTICE = post('/internal/leader', parseLeaderNotice, parseOrderHealth);
/** candidate -> order: join my epoch and say how complete your log is. */
export const POLL = post('/internal/poll', parsePollRequest, parsePollReply);
/** leader -> follower: entries that continue the follower's log. */
export const APPEND = post('/internal/append', parseAppendRequest, parseAppendReply, { bodyBytesMax: REPLICATION_BODY_BYTES_MAX });
/** anyone -> order: durable entries from `from`, at most `limit` (bounded by the batch size). */
export const ENTRIES = get<EntriesRequest, OrderEntry[]>(
  '/internal/entries',
  ({ from, limit }) => `/internal/entries?from=${from}&limit=${limit}`,
  ({ query }) => ({ from: queryCount(query, 'from', 0), limit: queryCount(query, 'limit', 1) }),
  (data, { from }) => parseEntries(data, from),
);
/** recovering replica -> order: where does the cluster stand? */
export const RECOVER = post('/internal/recover', parseRecoverRequest, parseRecoverReply);
/** returning replica -> leader: catch me up now. */
export const REJOIN = post('/internal/rejoin', parseRejoinRequest, parseDone);
