// The catalog's endpoints, one named handler each: lookups (for frontends), trades and the list of
// applied trades (for the order leader).
import { BazaarError } from '../core/errors.ts';
import { REPLICATION_BATCH_ENTRIES_MAX } from '../core/limits.ts';
import { quoteForMessage } from '../core/trade.ts';
import type { Metrics } from '../http/metrics.ts';
import type { Reply, RequestContext, Route } from '../http/server.ts';
import { CATALOG_TRADE_PATH } from '../protocol/catalog.ts';
import type { CatalogHealth } from '../protocol/health.ts';
import { parseOriginTrade } from '../protocol/orders.ts';
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

  function listStocks(): Reply {
    return { body: { data: store.list() } };
  }

  function lookupStock({ params }: RequestContext): Reply {
    const found = store.lookup(params.name!);
    if (found === undefined) throw new BazaarError('STOCK_NOT_FOUND', `no stock named ${quoteForMessage(params.name!)}`);
    return { body: { data: { ...found.stock, version: found.version } } };
  }

  function listTrades({ query }: RequestContext): Reply {
    const from = Number(query.get('from') ?? '0');
    const limit = Number(query.get('limit') ?? String(REPLICATION_BATCH_ENTRIES_MAX));
    if (!Number.isSafeInteger(from) || from < 0 || !Number.isSafeInteger(limit) || limit < 1) {
      throw new BazaarError('BAD_REQUEST', 'query parameters "from" and "limit" must be non-negative integers (limit at least 1)');
    }
    return { body: { data: { trades: store.trades(from, Math.min(limit, REPLICATION_BATCH_ENTRIES_MAX)), committed: store.committedCount } } };
  }

  async function trade({ json }: RequestContext): Promise<Reply> {
    const { trade: keyed, origin } = parseOriginTrade(await json());
    const startedAt = performance.now();
    const outcome = await store.trade(keyed);
    const storedAt = performance.now();
    stage('journal', storedAt - startedAt);
    // The trade is answered only once no frontend can serve the stock's state from before it (a
    // repeated key too: its first call may still be waiting for the push), except the trade's own
    // frontend: the version rides back to it on the reply, and it applies it before it answers.
    await invalidator.published({ name: outcome.stock.name, version: outcome.version }, origin);
    stage('push', performance.now() - storedAt);
    return { body: { data: outcome } };
  }

  return [
    { method: 'GET', path: '/metrics', handler: metricsText },
    { method: 'GET', path: '/health', handler: health },
    { method: 'GET', path: '/stocks', internal: true, handler: listStocks },
    { method: 'GET', path: '/stocks/:name', internal: true, handler: lookupStock },
    { method: 'GET', path: '/trades', internal: true, handler: listTrades },
    { method: 'POST', path: CATALOG_TRADE_PATH, internal: true, handler: trade },
  ];
}
