// Calls to the catalog: from an order leader (apply a trade once per key; list applied trades for
// reconciliation) and from a frontend (look a stock up). Requests are parsed by the catalog with
// core/trade.ts's parsers; these parse the replies.
import { BazaarError } from '../core/errors.ts';
import { type KeyedTrade, parseKeyedTrade, type Stock } from '../core/trade.ts';
import { REPLICATION_BATCH_ENTRIES_MAX, STOCKS_LISTED_MAX } from '../core/limits.ts';
import { get, post, queryCount } from './message.ts';
import { parseOriginTrade, tradeBody } from './orders.ts';
import { count, fromUpstream, list, object, text } from './parse.ts';

/** `GET /stocks/{name}`: the stock and its version (the cache's guard against stale fills). */
export interface StockReply extends Stock {
  readonly version: number;
}

/** `POST /trades` (an `OriginTrade` from protocol/orders.ts): the outcome, with the stock's new version. */
export interface CatalogTradeReply {
  readonly applied: boolean;
  readonly stock: Stock;
  readonly version: number;
}

export function parseCatalogTradeReply(data: unknown): CatalogTradeReply {
  const value = object(data, 'trade reply', 'UPSTREAM_BAD_REPLY');
  if (typeof value.applied !== 'boolean') throw new BazaarError('UPSTREAM_BAD_REPLY', 'field "applied" must be true or false');
  const { version, ...stock } = parseStockReply({ ...object(value.stock, 'stock', 'UPSTREAM_BAD_REPLY'), version: value.version });
  return { applied: value.applied, stock, version };
}

/** `GET /trades?from&limit`: applied trades in journal order, and how many are committed. */
export interface TradesReply {
  readonly trades: KeyedTrade[];
  readonly committed: number;
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

export function parseTradesReply(data: unknown): TradesReply {
  const value = object(data, 'trades reply', 'UPSTREAM_BAD_REPLY');
  const trades = list(value.trades, 'trades', REPLICATION_BATCH_ENTRIES_MAX, 'UPSTREAM_BAD_REPLY').map((item) => {
    const trade = object(item, 'trade', 'UPSTREAM_BAD_REPLY');
    return fromUpstream(() => parseKeyedTrade({ key: trade.key, name: trade.name, type: trade.type, quantity: trade.quantity }));
  });
  return { trades, committed: count(value.committed, 'committed', 0, 'UPSTREAM_BAD_REPLY') };
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
/** leader -> catalog: apply a trade once per key; answered once no other frontend can serve the stock from before it. */
export const CATALOG_TRADE = post('/trades', parseOriginTrade, parseCatalogTradeReply, { body: tradeBody });
/** leader -> catalog: applied trades in journal order, for reconciliation. */
export const LIST_TRADES = get<{ from: number; limit: number }, TradesReply>(
  '/trades',
  ({ from, limit }) => `/trades?from=${from}&limit=${limit}`,
  ({ query }) => ({ from: queryCount(query, 'from', 0), limit: Math.min(queryCount(query, 'limit', REPLICATION_BATCH_ENTRIES_MAX, 1), REPLICATION_BATCH_ENTRIES_MAX) }),
  parseTradesReply,
);
