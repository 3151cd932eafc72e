// `bazaar catalog`: serves stock lookups and applies trades, durably and once per key.
import type { AddressInfo } from 'node:net';
import type { Config } from '../core/config.ts';
import { BazaarError } from '../core/errors.ts';
import { type Handle, fatalSignal, idempotent } from '../core/lifecycle.ts';
import { createLogger, type Logger } from '../core/logger.ts';
import { dataPaths } from '../core/paths.ts';
import { parseKeyedTrade, quoteForMessage } from '../core/trade.ts';
import { createJsonServer } from '../http/server.ts';
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
  logger.info(`catalog: ${config.catalog.stocks.length} stocks, ${store.tradeCount} trades replayed from ${journalPath}`);

  const http = createJsonServer({
    name: 'catalog',
    logger,
    token: config.token,
    routes: [
      { method: 'GET', path: '/health', handler: () => ({ body: { data: { role: 'catalog', status: 'up', trades: store.tradeCount } } }) },
      { method: 'GET', path: '/stocks', internal: true, handler: () => ({ body: { data: store.list() } }) },
      {
        method: 'GET',
        path: '/stocks/:name',
        internal: true,
        handler: ({ params }) => {
          const stock = store.lookup(params.name!);
          if (stock === undefined) throw new BazaarError('STOCK_NOT_FOUND', `no stock named ${quoteForMessage(params.name!)}`);
          return { body: { data: stock } };
        },
      },
      {
        method: 'POST',
        path: '/trades',
        internal: true,
        handler: async ({ json }) => {
          const outcome = await store.trade(parseKeyedTrade(await json()));
          return { body: { data: outcome } };
        },
      },
    ],
  });

  let address: AddressInfo;
  try {
    address = await http.listen(config.catalog.bind, config.catalog.port);
  } catch (error) {
    await store.close();
    throw error;
  }
  logger.info(`catalog: listening on ${config.catalog.bind}:${address.port}`);

  return {
    address,
    fatal,
    close: idempotent(async () => {
      await http.close();
      await store.close();
    }),
  };
}
