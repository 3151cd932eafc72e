// The catalog's endpoints, one named handler each: lookups (for frontends), trades and the list of
// applied trades (for the order leader).
import { BazaarError } from '../core/errors.ts';
import { quoteForMessage, type Stock } from '../core/trade.ts';
import { serve } from '../http/message.ts';
import type { Metrics } from '../http/metrics.ts';
import type { Reply, Route } from '../http/server.ts';
import { CATALOG_TRADE, type CatalogTradeReply, LIST_STOCKS, LIST_TRADES, LOOKUP_STOCK, type StockReply, type TradesReply } from '../protocol/catalog.ts';
import type { CatalogHealth } from '../protocol/health.ts';
import type { OriginTrade } from '../protocol/orders.ts';
import type { Invalidator } from './invalidator.ts';
import type { CatalogStore } from './store.ts';

export function catalogRoutes(store: CatalogStore, invalidator: Invalidator, metrics: Metrics): Route[] {
  const stage = metrics.stages('bazaar_catalog');

  function metricsText(): Reply {
    return { body: metrics.render() };
  }

  function health(): Reply {
    const data: CatalogHealth = { role: 'catalog', status: 'up', trades: store.committedCount, pid: process.pid };
    return { body: { data } };
  }

  function listStocks(): Stock[] {
    return store.list();
  }

  function lookupStock(name: string): StockReply {
    const found = store.lookup(name);
    if (found === undefined) throw new BazaarError('STOCK_NOT_FOUND', `no stock named ${quoteForMessage(name)}`);
    return { ...found.stock, version: found.version };
  }

  function listTrades({ from, limit }: { from: number; limit: number }): TradesReply {
    return { trades: store.trades(from, limit), committed: store.committedCount };
  }

  async function trade({ trade: keyed, origin }: OriginTrade): Promise<CatalogTradeReply> {
    const startedAt = performance.now();
    const outcome = await store.trade(keyed);
    const storedAt = performance.now();
    stage('journal', storedAt - startedAt);
    // The trade is answered only once no frontend can serve the stock's state from before it (a
    // repeated key too: its first call may still be waiting for the push), except the trade's own
    // frontend: the version rides back to it on the reply, and it applies it before it answers.
    await invalidator.published({ name: outcome.stock.name, version: outcome.version }, origin);
    stage('push', performance.now() - storedAt);
    return outcome;
  }

  return [
    { method: 'GET', path: '/metrics', handler: metricsText },
    { method: 'GET', path: '/health', handler: health },
    serve(LIST_STOCKS, listStocks),
    serve(LOOKUP_STOCK, lookupStock),
    serve(LIST_TRADES, listTrades),
    serve(CATALOG_TRADE, trade),
  ];
}
