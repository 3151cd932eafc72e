// frontend -> order leader: place an order (a keyed trade, and the frontend it came through) and look
// one up; and the leader's replies. The trade and its origin travel on to the catalog unchanged.
import { BazaarError } from '../core/errors.ts';
import { ORIGIN_LENGTH_MAX } from '../core/limits.ts';
import { type KeyedTrade, type OrderView, parseKeyedTrade, parseOrderNumber, PRINTABLE_TOKEN } from '../core/trade.ts';
import { get, post } from './message.ts';
import { count, object, text } from './parse.ts';


/**
 * A trade as it travels from a frontend through the leader to the catalog. `origin` names the
 * frontend (its `host:port` in the config): the catalog does not wait for that frontend to take the
 * stock's new version by push, because the version rides back to it on the reply.
 */
export interface OriginTrade {
  readonly trade: KeyedTrade;
  readonly origin: string | undefined;
}

export function tradeBody({ trade, origin }: OriginTrade): object {
  return origin === undefined ? trade : { ...trade, origin };
}

export function parseOriginTrade(body: unknown): OriginTrade {
  const { origin, ...rest } = object(body, 'trade');
  if (origin !== undefined && (typeof origin !== 'string' || origin.length > ORIGIN_LENGTH_MAX || !PRINTABLE_TOKEN.test(origin))) {
    throw new BazaarError('BAD_REQUEST', `field "origin" must be 1 to ${ORIGIN_LENGTH_MAX} printable characters`);
  }
  return { trade: parseKeyedTrade(rest), origin };
}

/** The leader's reply to a placed order: its transaction number, and the stock's version after the trade. */
export interface PlaceOrderReply {
  readonly transaction_number: number;
  readonly version: number;
}

export function parsePlaceOrderReply(data: unknown): PlaceOrderReply {
  const value = object(data, 'order reply', 'UPSTREAM_BAD_REPLY');
  return {
    transaction_number: count(value.transaction_number, 'transaction_number', 0, 'UPSTREAM_BAD_REPLY'),
    version: count(value.version, 'version', 0, 'UPSTREAM_BAD_REPLY'),
  };
}

export function parseOrderReply(data: unknown): OrderView {
  const value = object(data, 'order', 'UPSTREAM_BAD_REPLY');
  const type = text(value.type, 'type', 'UPSTREAM_BAD_REPLY');
  if (type !== 'buy' && type !== 'sell') throw new BazaarError('UPSTREAM_BAD_REPLY', 'field "type" must be "buy" or "sell"');
  return {
    number: count(value.number, 'number', 0, 'UPSTREAM_BAD_REPLY'),
    name: text(value.name, 'name', 'UPSTREAM_BAD_REPLY'),
    type,
    quantity: count(value.quantity, 'quantity', 1, 'UPSTREAM_BAD_REPLY'),
  };
}

export function parseCrashReply(data: unknown): { crashing: number } {
  return { crashing: count(object(data, 'crash reply', 'UPSTREAM_BAD_REPLY').crashing, 'crashing', 1, 'UPSTREAM_BAD_REPLY') };
}

/** frontend -> leader: place a trade once per key; the reply carries its number and the stock's version after it. */
export const PLACE_ORDER = post('/orders', parseOriginTrade, parsePlaceOrderReply, { body: tradeBody });
/** frontend -> leader: an acknowledged order. */
export const READ_ORDER = get('/orders/:number', (number: number) => `/orders/${number}`, ({ params }) => parseOrderNumber(params.number!), parseOrderReply);
/** admin -> order: a real crash for fault drills (SIGKILL to itself), answered 202 before it dies. */
export const CRASH = post('/internal/crash', () => ({}), parseCrashReply, { status: 202 });
