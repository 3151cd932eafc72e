// frontend -> order leader: place an order (a keyed trade) and look one up. The leader parses the
// request with core/trade.ts's parsers; these parse its replies.
import { BazaarError } from '../core/errors.ts';
import type { OrderView } from '../core/trade.ts';
import { count, object, text } from './parse.ts';

export const PLACE_ORDER_PATH = '/orders';

export function orderPath(number: number): string {
  return `/orders/${number}`;
}

/** The leader's reply to a placed order: its transaction number. */
export interface PlaceOrderReply {
  readonly transaction_number: number;
}

export function parsePlaceOrderReply(data: unknown): PlaceOrderReply {
  const value = object(data, 'order reply', 'UPSTREAM_BAD_REPLY');
  return { transaction_number: count(value.transaction_number, 'transaction_number', 0, 'UPSTREAM_BAD_REPLY') };
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
