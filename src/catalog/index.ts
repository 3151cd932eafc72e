// `bazaar catalog`: serves stock lookups and applies trades, durably and once per key.
import type { AddressInfo } from 'node:net';
import { type Config, openInternalsWarning } from '../core/config.ts';
import { BazaarError } from '../core/errors.ts';
import { type Handle, fatalSignal, idempotent } from '../core/lifecycle.ts';
import { REPLICATION_BATCH_ENTRIES_MAX } from '../core/limits.ts';
import { createLogger, type Logger } from '../core/logger.ts';
import { dataPaths } from '../core/paths.ts';
import { parseKeyedTrade, quoteForMessage } from '../core/trade.ts';
import { Metrics } from '../http/metrics.ts';
import { createJsonServer } from '../http/server.ts';
import { httpDelivery, Invalidator } from './invalidator.ts';
import { CatalogStore } from './store.ts';

export interface CatalogHandle extends Handle {
  readonly address: AddressInfo;
}

export async function start(config: Config, logger: Logger = createLogger()): Promise<CatalogHandle> {
  const { fatal, fail } = fatalSignal();
  const journalPath = dataPaths(config.dataDir).catalogJournal;
  const store = await CatalogStore.open(journalPath, config.catalog.stocks, (error) =>
    fail(new Error(`lost the lock on ${journalPath}: ${error.message}`)),
  );
  logger.info(`catalog: ${config.catalog.stocks.length} stocks, ${store.committedCount} trades replayed from ${journalPath}`);

  // Every frontend of the config gets each change pushed (one today; the list is ready for more).
  const deliveries = [config.frontend].map((frontend) => ({ name: `${frontend.host}:${frontend.port}`, ...httpDelivery(frontend, config.token) }));
  const invalidator = new Invalidator(deliveries, { versions: () => store.versions(), logger });

  const metrics = new Metrics();
  const countRequest = metrics.counter('bazaar_catalog_requests_total', 'Requests answered, by route and status.');
  metrics.gauge('bazaar_catalog_trades_total', 'Trades committed.', () => store.committedCount);

  const openWarning = openInternalsWarning(config, config.catalog);
  if (openWarning !== undefined) logger.warn(`catalog: ${openWarning}`);

  const http = createJsonServer({
    name: 'catalog',
    logger,
    token: config.token,
    onReply: (route, status) => countRequest({ route, status: String(status) }),
    routes: [
      { method: 'GET', path: '/metrics', handler: () => ({ body: metrics.render() }) },
      { method: 'GET', path: '/health', handler: () => ({ body: { data: { role: 'catalog', status: 'up', trades: store.committedCount } } }) },
      { method: 'GET', path: '/stocks', internal: true, handler: () => ({ body: { data: store.list() } }) },
      {
        method: 'GET',
        path: '/stocks/:name',
        internal: true,
        handler: ({ params }) => {
          const found = store.lookup(params.name!);
          if (found === undefined) throw new BazaarError('STOCK_NOT_FOUND', `no stock named ${quoteForMessage(params.name!)}`);
          return { body: { data: { ...found.stock, version: found.version } } };
        },
      },
      {
        method: 'GET',
        path: '/trades',
        internal: true,
        handler: ({ query }) => {
          const from = Number(query.get('from') ?? '0');
          const limit = Number(query.get('limit') ?? String(REPLICATION_BATCH_ENTRIES_MAX));
          if (!Number.isSafeInteger(from) || from < 0 || !Number.isSafeInteger(limit) || limit < 1) {
            throw new BazaarError('BAD_REQUEST', 'query parameters "from" and "limit" must be non-negative integers (limit at least 1)');
          }
          return { body: { data: { trades: store.trades(from, Math.min(limit, REPLICATION_BATCH_ENTRIES_MAX)), committed: store.committedCount } } };
        },
      },
      {
        method: 'POST',
        path: '/trades',
        internal: true,
        handler: async ({ json }) => {
          const outcome = await store.trade(parseKeyedTrade(await json()));
          // The trade is answered only once no frontend can serve the stock's state from before it
          // (a repeated key too: its first call may still be waiting for the push).
          await invalidator.published({ name: outcome.stock.name, version: outcome.version });
          return { body: { data: outcome } };
        },
      },
    ],
  });

  let address: AddressInfo;
  try {
    address = await http.listen(config.catalog.bind, config.catalog.port);
  } catch (error) {
    invalidator.close();
    await Promise.all([store.close(), ...deliveries.map((delivery) => delivery.close())]);
    throw error;
  }
  logger.info(`catalog: listening on ${config.catalog.bind}:${address.port}`);

  return {
    address,
    fatal,
    close: idempotent(async () => {
      await http.close();
      invalidator.close();
      await Promise.all([store.close(), ...deliveries.map((delivery) => delivery.close())]);
    }),
  };
}
