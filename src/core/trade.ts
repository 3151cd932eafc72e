// The trading vocabulary every role shares, and the parsers that turn untrusted input into it.
import { BazaarError } from './errors.ts';
import { IDEMPOTENCY_KEY_LENGTH_MAX, STOCK_NAME_LENGTH_MAX, TRADE_QUANTITY_MAX } from './limits.ts';

export type TradeType = 'buy' | 'sell';

export interface Stock {
  readonly name: string;
  readonly price: number;
  readonly quantity: number;
  readonly volume: number;
}

export interface TradeRequest {
  readonly name: string;
  readonly type: TradeType;
  readonly quantity: number;
}

/** A trade as it travels between our services: the idempotency key makes retries safe. */
export interface KeyedTrade extends TradeRequest {
  readonly key: string;
}

/** One line of an order log. */
export interface OrderEntry extends KeyedTrade {
  readonly number: number;
  readonly epoch: number;
}

/** The public shape of an order, as `GET /orders/{number}` returns it. */
export interface OrderView {
  readonly number: number;
  readonly name: string;
  readonly type: TradeType;
  readonly quantity: number;
}

const STOCK_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
/** Printable ASCII without spaces: safe in headers, logs and JSON alike (keys, frontend names). */
export const PRINTABLE_TOKEN = /^[\x21-\x7e]+$/;

export function isValidStockName(name: string): boolean {
  return name.length <= STOCK_NAME_LENGTH_MAX && STOCK_NAME_PATTERN.test(name);
}

/** Shortens untrusted text before it is echoed in an error message. */
export function quoteForMessage(text: string): string {
  const shown = text.length > 40 ? `${text.slice(0, 40)}…` : text;
  return JSON.stringify(shown);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const TRADE_FIELDS = new Set(['name', 'quantity', 'type']);

/** Parses the body of `POST /orders`; every message names the offending field. */
export function parseTradeRequest(body: unknown): TradeRequest {
  if (!isPlainObject(body)) {
    throw new BazaarError('BAD_REQUEST', 'body must be a JSON object with fields "name", "quantity" and "type"');
  }
  for (const field of Object.keys(body)) {
    if (!TRADE_FIELDS.has(field)) {
      throw new BazaarError('BAD_REQUEST', `unknown field ${quoteForMessage(field)}; allowed: "name", "quantity", "type"`);
    }
  }
  const { name, quantity, type } = body;
  if (typeof name !== 'string' || name.length === 0) {
    throw new BazaarError('BAD_REQUEST', 'field "name" must be a non-empty string');
  }
  if (type !== 'buy' && type !== 'sell') {
    throw new BazaarError('BAD_REQUEST', 'field "type" must be "buy" or "sell"');
  }
  if (typeof quantity !== 'number' || !Number.isInteger(quantity) || quantity < 1 || quantity > TRADE_QUANTITY_MAX) {
    throw new BazaarError('BAD_REQUEST', `field "quantity" must be an integer from 1 to ${TRADE_QUANTITY_MAX}`);
  }
  return { name, type, quantity };
}

/** Parses a trade between our services: the public fields plus the idempotency key. */
export function parseKeyedTrade(body: unknown): KeyedTrade {
  if (!isPlainObject(body)) throw new BazaarError('BAD_REQUEST', 'body must be a JSON object');
  const { key, ...rest } = body;
  return { key: parseIdempotencyKey(key), ...parseTradeRequest(rest) };
}

export function parseIdempotencyKey(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > IDEMPOTENCY_KEY_LENGTH_MAX || !PRINTABLE_TOKEN.test(value)) {
    throw new BazaarError(
      'BAD_REQUEST',
      `Idempotency-Key must be 1 to ${IDEMPOTENCY_KEY_LENGTH_MAX} printable ASCII characters without spaces`,
    );
  }
  return value;
}

/** Parses the `{number}` of `GET /orders/{number}`: a non-negative integer in decimal. */
export function parseOrderNumber(text: string): number {
  if (!/^(0|[1-9][0-9]{0,14})$/.test(text)) {
    throw new BazaarError('BAD_REQUEST', `order number ${quoteForMessage(text)} is not a non-negative integer`);
  }
  return Number(text);
}

export function sameTrade(a: TradeRequest, b: TradeRequest): boolean {
  return a.name === b.name && a.type === b.type && a.quantity === b.quantity;
}

export function orderView(entry: OrderEntry): OrderView {
  return { number: entry.number, name: entry.name, type: entry.type, quantity: entry.quantity };
}

/** Two entries are the same if number, epoch and key agree (a leader gives a number out once an epoch). */
export function sameEntry(a: Pick<OrderEntry, 'number' | 'epoch' | 'key'> | undefined | null, b: Pick<OrderEntry, 'number' | 'epoch' | 'key'> | undefined | null): boolean {
  return a != null && b != null && a.number === b.number && a.epoch === b.epoch && a.key === b.key;
}

/** Checks an order entry from disk or the network and returns it in canonical field order. */
export function parseOrderEntry(record: unknown, expectedNumber: number, where: string): OrderEntry {
  const entry = record as Partial<OrderEntry> | null;
  const valid =
    entry !== null &&
    typeof entry === 'object' &&
    entry.number === expectedNumber &&
    Number.isInteger(entry.epoch) &&
    (entry.epoch ?? -1) >= 0 &&
    typeof entry.key === 'string' &&
    typeof entry.name === 'string' &&
    (entry.type === 'buy' || entry.type === 'sell') &&
    Number.isInteger(entry.quantity) &&
    (entry.quantity ?? 0) > 0;
  if (!valid) throw new Error(`${where}: entry ${expectedNumber} is not a valid order (numbers must run from 0 without gaps)`);
  const { number, epoch, key, name, type, quantity } = entry as OrderEntry;
  // Written in this field order, so that equal logs are equal byte for byte.
  return { number, epoch, key, name, type, quantity };
}
