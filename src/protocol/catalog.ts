// Calls to the catalog: from an order leader (approve a trade before it is logged; apply committed
// entries) and from a frontend (look a stock up). The catalog's state is derived from the order log
// (catalog/state.ts).
import { BazaarError } from '../core/errors.ts';
import { type KeyedTrade, type OrderEntry, parseOrderEntry, type Stock } from '../core/trade.ts';
import { REPLICATION_BATCH_ENTRIES_MAX, REPLICATION_BODY_BYTES_MAX, STOCKS_LISTED_MAX } from '../core/limits.ts';
import { get, post } from './message.ts';
import { parseOriginTrade } from './orders.ts';
import { count, list, object, oneOf, text } from './parse.ts';

/** `GET /stocks/{name}`: the stock and its version (the cache's guard against stale fills). */
export interface StockReply extends Stock {
  readonly version: number;
}

export interface ApproveRequest {
  readonly trade: KeyedTrade;
  readonly epoch: number;
  /** The epoch's starting log: all committed before it served. */
  readonly startLength: number;
  /** The incarnation the leader takes this catalog to be (null: none yet). */
  readonly incarnation: string | null;
  /** Entries from here on were approved by that incarnation; those before must be applied first. */
  readonly since: number;
}

export type Approval =
  | { readonly status: 'approved'; readonly incarnation: string }
  /** The leader named another incarnation: nothing reserved; name this one and ask again. */
  | { readonly status: 'restarted'; readonly incarnation: string }
  /** Entries before `since` are not all applied yet: ask again once they are (the driver waits). */
  | { readonly status: 'behind'; readonly incarnation: string };

export interface ApplyRequest {
  readonly epoch: number;
  readonly startLength: number;
  /** The leader's commit point. */
  readonly commitLength: number;
  /** Committed entries from number `from`; `prev` is the entry before them (null at 0). */
  readonly from: number;
  readonly prev: { readonly number: number; readonly key: string } | null;
  readonly entries: readonly OrderEntry[];
  /** The incarnation the leader names (null: none yet), and from where in its log that one approved every entry. */
  readonly incarnation: string | null;
  readonly since: number;
}

export interface ApplyReply {
  readonly incarnation: string;
  /** Every entry before this number is applied here: where the next message should start. */
  readonly applied: number;
}

/** leader -> catalog: approve a trade before it is logged (a reservation, not a change). */
export interface ApproveCall extends ApproveRequest {
  /** The frontend the trade came through: it takes the change from the reply, not by push. */
  readonly origin: string | undefined;
}

function fenceFields(value: Record<string, unknown>): { epoch: number; startLength: number } {
  return { epoch: count(value.epoch, 'epoch', 1), startLength: count(value.startLength, 'startLength') };
}

export function parseApproveCall(body: unknown): ApproveCall {
  const value = object(body, 'approval');
  const { trade, origin } = parseOriginTrade(value.trade === undefined ? {} : { ...object(value.trade, 'trade'), origin: value.origin });
  const incarnation = value.incarnation === null ? null : text(value.incarnation, 'incarnation');
  return { trade, origin, ...fenceFields(value), incarnation, since: count(value.since, 'since') };
}

export function parseApproval(data: unknown): Approval {
  const value = object(data, 'approval reply', 'UPSTREAM_BAD_REPLY');
  const status = oneOf(value.status, 'status', ['approved', 'restarted', 'behind'] as const, 'UPSTREAM_BAD_REPLY');
  return { status, incarnation: text(value.incarnation, 'incarnation', 'UPSTREAM_BAD_REPLY') };
}

export function parseApplyRequest(body: unknown): ApplyRequest {
  const value = object(body, 'apply');
  const from = count(value.from, 'from');
  const entries = list(value.entries, 'entries', REPLICATION_BATCH_ENTRIES_MAX).map((entry, index) => {
    try {
      return parseOrderEntry(entry, from + index, 'apply');
    } catch (error) {
      throw new BazaarError('BAD_REQUEST', (error as Error).message);
    }
  });
  let prev: ApplyRequest['prev'] = null;
  if (value.prev !== null && value.prev !== undefined) {
    const ref = object(value.prev, 'prev');
    prev = { number: count(ref.number, 'prev.number'), key: text(ref.key, 'prev.key') };
  }
  if ((from === 0) !== (prev === null) || (prev !== null && prev.number !== from - 1)) {
    throw new BazaarError('BAD_REQUEST', 'field "prev" must be the entry before "from" (null when from is 0)');
  }
  const commitLength = count(value.commitLength, 'commitLength');
  if (from + entries.length > commitLength) throw new BazaarError('BAD_REQUEST', 'only committed entries are applied: "from" + entries must not pass "commitLength"');
  const incarnation = value.incarnation === null ? null : text(value.incarnation, 'incarnation');
  return { ...fenceFields(value), commitLength, from, prev, entries, incarnation, since: count(value.since, 'since') };
}

export function parseApplyReply(data: unknown): ApplyReply {
  const value = object(data, 'apply reply', 'UPSTREAM_BAD_REPLY');
  return { incarnation: text(value.incarnation, 'incarnation', 'UPSTREAM_BAD_REPLY'), applied: count(value.applied, 'applied', 0, 'UPSTREAM_BAD_REPLY') };
}

function finite(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new BazaarError('UPSTREAM_BAD_REPLY', `field "${field}" must be a number`);
  return value;
}

export function parseStockReply(data: unknown): StockReply {
  const value = object(data, 'stock reply', 'UPSTREAM_BAD_REPLY');
  return {
    name: text(value.name, 'name', 'UPSTREAM_BAD_REPLY'),
    price: finite(value.price, 'price'),
    quantity: count(value.quantity, 'quantity', 0, 'UPSTREAM_BAD_REPLY'),
    volume: count(value.volume, 'volume', 0, 'UPSTREAM_BAD_REPLY'),
    version: count(value.version, 'version', 0, 'UPSTREAM_BAD_REPLY'),
  };
}

export function parseStockList(data: unknown): Stock[] {
  return list(data, 'stocks', STOCKS_LISTED_MAX, 'UPSTREAM_BAD_REPLY').map((item) => {
    const { name, price, quantity, volume } = parseStockReply({ ...object(item, 'stock', 'UPSTREAM_BAD_REPLY'), version: 0 });
    return { name, price, quantity, volume };
  });
}

/** frontend -> catalog: one stock, with its version. */
export const LOOKUP_STOCK = get('/stocks/:name', (name: string) => `/stocks/${encodeURIComponent(name)}`, ({ params }) => params.name!, parseStockReply);
/** dashboard -> catalog: every stock. */
export const LIST_STOCKS = get('/stocks', () => '/stocks', () => undefined, parseStockList);
/** leader -> catalog: approve a trade before it is logged; answered once no other frontend can serve the stock from before it. */
export const CATALOG_APPROVE = post('/internal/approve', parseApproveCall, parseApproval, { body: (call: ApproveCall) => call });
/** leader -> catalog: committed entries to apply, in number order; the reply says where the next should start. */
export const CATALOG_APPLY = post('/internal/apply', parseApplyRequest, parseApplyReply, { bodyBytesMax: REPLICATION_BODY_BYTES_MAX });
