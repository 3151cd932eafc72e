// The catalog's endpoints, one named handler each: lookups (for frontends and the dashboard), and
// from the order leader, approvals of trades before they are logged and the committed entries to apply.
import { BazaarError } from '../core/errors.ts';
import { quoteForMessage, type Stock } from '../core/trade.ts';
import { serve } from '../http/message.ts';
import type { Metrics } from '../http/metrics.ts';
import type { Reply, Route } from '../http/server.ts';
import { type ApplyReply, type ApplyRequest, type Approval, type ApproveCall, CATALOG_APPLY, CATALOG_APPROVE, LIST_STOCKS, LOOKUP_STOCK, type StockReply } from '../protocol/catalog.ts';
import type { CatalogHealth } from '../protocol/health.ts';
import type { Invalidator } from './invalidator.ts';
import type { CatalogStore } from './store.ts';

export function catalogRoutes(store: CatalogStore, invalidator: Invalidator, metrics: Metrics): Route[] {
  const stage = metrics.stages('bazaar_catalog');

  function metricsText(): Reply {
    return { body: metrics.render() };
  }

  function health(): Reply {
    const data: CatalogHealth = { role: 'catalog', status: 'up', trades: store.state.applied, ready: store.state.ready, pid: process.pid };
    return { body: { data } };
  }

  function listStocks(): Stock[] {
    return store.list();
  }

  async function lookupStock(name: string): Promise<StockReply> {
    const found = await store.lookup(name);
    if (found === undefined) throw new BazaarError('STOCK_NOT_FOUND', `no stock named ${quoteForMessage(name)}`);
    return { ...found.stock, version: found.version };
  }

  async function approve(call: ApproveCall): Promise<Approval> {
    const startedAt = performance.now();
    const { name } = call.trade;
    // The stock's version now: whatever this trade becomes, the state after it has a higher one.
    const floor = (store.state.lookup(name)?.version ?? 0) + 1;
    const approval = await store.approve(call);
    const approvedAt = performance.now();
    stage('approve', approvedAt - startedAt);
    if (approval.status !== 'approved') return approval;
    // Answered only once no other frontend can serve the stock from before the trade: each drops
    // it and takes nothing older than `floor`. The trade's own frontend takes the version from the
    // leader's reply, before it answers.
    await invalidator.published({ name, version: floor }, call.origin);
    stage('push', performance.now() - approvedAt);
    return approval;
  }

  function apply(request: ApplyRequest): ApplyReply {
    return store.apply(request);
  }

  return [
    { method: 'GET', path: '/metrics', handler: metricsText },
    { method: 'GET', path: '/health', handler: health },
    serve(LIST_STOCKS, listStocks),
    serve(LOOKUP_STOCK, lookupStock),
    serve(CATALOG_APPROVE, approve),
    serve(CATALOG_APPLY, apply),
  ];
}
