// The frontend's endpoints, one named handler each: the public API (lookups, trades, order queries)
// and the catalog's push. `start()` in index.ts wires them to the server.
import { randomUUID } from 'node:crypto';
import { BazaarError } from '../core/errors.ts';
import { isValidStockName, parseIdempotencyKey, parseOrderNumber, parseTradeRequest, quoteForMessage, type Stock } from '../core/trade.ts';
import type { Caller } from '../http/client.ts';
import { send, serve } from '../http/message.ts';
import type { Metrics } from '../http/metrics.ts';
import type { Reply, RequestContext, Route } from '../http/server.ts';
import { LOOKUP_STOCK } from '../protocol/catalog.ts';
import type { FrontendHealth } from '../protocol/health.ts';
import { PLACE_ORDER, READ_ORDER } from '../protocol/orders.ts';
import { INVALIDATE, type InvalidationMessage } from '../protocol/push.ts';
import type { StockCache } from './cache.ts';
import openapi from './openapi.json' with { type: 'json' };
import type { CallLeader } from './failover.ts';
import type { LeaderChooser } from './leader.ts';

export interface FrontendParts {
  /** This frontend's name as the catalog knows it (`host:port` in the config): trades carry it. */
  readonly origin: string;
  readonly cache: StockCache;
  readonly catalog: Caller;
  readonly leaders: LeaderChooser;
  readonly callLeader: CallLeader;
  readonly metrics: Metrics;
}

/** The public API's OpenAPI document, serialized once. */
const OPENAPI_JSON = JSON.stringify(openapi);

export function frontendRoutes({ origin, cache, catalog, leaders, callLeader, metrics }: FrontendParts): Route[] {
  const stage = metrics.stages('bazaar_frontend');

  function health(): Reply {
    const data: FrontendHealth = { role: 'frontend', status: 'up', leader: leaders.currentId ?? null, epoch: leaders.currentEpoch, cache: cache.stats(), pid: process.pid };
    return { body: { data } };
  }

  function metricsText(): Reply {
    return { body: metrics.render() };
  }

  /** A lookup the fast path did not answer: a miss, or a name that needed decoding. */
  async function lookupStock({ params }: RequestContext): Promise<Reply> {
    const name = params.name!;
    if (!isValidStockName(name)) throw new BazaarError('STOCK_NOT_FOUND', `no stock named ${quoteForMessage(name)}`);
    const cached = cache.get(name);
    if (cached !== undefined) return { json: cached.body };
    let found;
    try {
      found = await send(catalog, LOOKUP_STOCK, name, 'the catalog could not look the stock up');
    } catch (error) {
      // The catalog waits for the order leader to bring it the log; a leader that died with no
      // trade to notice it would keep it waiting: look in on it.
      if (error instanceof BazaarError && error.code === 'CATALOG_REBUILDING') void leaders.checkLeader();
      throw error;
    }
    const stock: Stock = { name: found.name, price: found.price, quantity: found.quantity, volume: found.volume };
    cache.fill(stock, found.version);
    return { body: { data: stock } };
  }

  function applyPush(message: InvalidationMessage): { ok: true } {
    cache.apply(message);
    return { ok: true };
  }

  async function placeOrder({ headers, json }: RequestContext): Promise<Reply> {
    const header = headers['idempotency-key'];
    // Parse the key before the body, so a bad key is refused whatever the body says.
    const key = header === undefined ? `fe-${randomUUID()}` : parseIdempotencyKey(header);
    const trade = parseTradeRequest(await json());
    const sentAt = performance.now();
    const data = await callLeader(PLACE_ORDER, { trade: { key, ...trade }, origin }, 'the order service refused the order');
    stage('leader', performance.now() - sentAt);
    // The catalog did not wait for this frontend to take the stock's new version by push: take it
    // from the reply, before answering, so no lookup after the answer can show the stock from before.
    cache.invalidate({ name: trade.name, version: data.version });
    return { body: { data: { transaction_number: data.transaction_number } } };
  }

  async function readOrder({ params }: RequestContext): Promise<Reply> {
    const number = parseOrderNumber(params.number!);
    const order = await callLeader(READ_ORDER, number, 'the order service could not look the order up');
    return { body: { data: order } };
  }

  return [
    { method: 'GET', path: '/health', handler: health },
    { method: 'GET', path: '/metrics', handler: metricsText },
    { method: 'GET', path: '/openapi.json', handler: () => ({ json: OPENAPI_JSON }) },
    { method: 'GET', path: '/stocks/:name', handler: lookupStock },
    serve(INVALIDATE, applyPush),
    // The public API's paths: described once in openapi.json, which the frontend also serves.
    { method: 'POST', path: '/orders', handler: placeOrder },
    { method: 'GET', path: '/orders/:number', handler: readOrder },
  ];
}
