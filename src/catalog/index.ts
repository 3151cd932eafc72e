// `bazaar catalog`: serves stock lookups and applies trades, durably and once per key.
import type { AddressInfo } from 'node:net';
import { type Config, frontendName, openInternalsWarning } from '../core/config.ts';
import { type Handle, fatalSignal, idempotent } from '../core/lifecycle.ts';
import { createLogger, type Logger } from '../core/logger.ts';
import { dataPaths } from '../core/paths.ts';
import { Metrics } from '../http/metrics.ts';
import { createJsonServer } from '../http/server.ts';
import { StorageError } from '../storage/errors.ts';
import { linkDelivery, Invalidator } from './invalidator.ts';
import { catalogRoutes } from './routes.ts';
import { CatalogStore } from './store.ts';

export interface CatalogHandle extends Handle {
  readonly address: AddressInfo;
}

export async function start(config: Config, logger: Logger = createLogger()): Promise<CatalogHandle> {
  const { fatal, fail } = fatalSignal();
  const journalPath = dataPaths(config.dataDir).catalogJournal;
  const store = await CatalogStore.open(journalPath, config.catalog.stocks, (error) =>
    fail(new StorageError('LOCK_LOST', `lost the lock on ${journalPath}: ${error.message}`)),
  );
  logger.info(`catalog: ${config.catalog.stocks.length} stocks, ${store.committedCount} trades replayed from ${journalPath}`);

  // Every frontend of the config gets each change pushed; a trade waits for every one but its own.
  const deliveries = config.frontends.map((frontend) => ({ name: frontendName(frontend), ...linkDelivery(frontend, config.token) }));
  const invalidator = new Invalidator(deliveries, { versions: () => store.versions(), logger });

  const metrics = new Metrics();
  const countRequest = metrics.requests('bazaar_catalog');
  metrics.counterOf('bazaar_catalog_trades_total', 'Trades committed.', () => store.committedCount);

  const openWarning = openInternalsWarning(config, config.catalog);
  if (openWarning !== undefined) logger.warn(`catalog: ${openWarning}`);

  const http = createJsonServer({
    name: 'catalog',
    logger,
    token: config.token,
    onReply: countRequest,
    // As an order replica does: a catalog whose journal failed can no longer promise durability, so
    // it stops, and its supervisor (bazaar up, systemd) starts it again on a journal read afresh.
    onStorageFailure: fail,
    routes: catalogRoutes(store, invalidator, metrics),
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
