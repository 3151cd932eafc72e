// `bazaar catalog`: serves stock lookups, approves trades before they are logged, and applies the
// committed order log, from which its state is derived (state.ts).
import type { AddressInfo } from 'node:net';
import { type Config, frontendName, listenerWarnings } from '../core/config.ts';
import { type Handle, fatalSignal, idempotent } from '../core/lifecycle.ts';
import { createLogger, type Logger } from '../core/logger.ts';
import { dataPaths } from '../core/paths.ts';
import { Dialer } from '../http/dial.ts';
import { Metrics } from '../http/metrics.ts';
import { CATALOG_CERT, frontendCertName } from '../tls/names.ts';
import { tlsListener } from '../tls/server.ts';
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
  const checkpointPath = dataPaths(config.dataDir).catalogCheckpoint;
  const store = await CatalogStore.open(checkpointPath, config.catalog.stocks, logger, (error) =>
    fail(new StorageError('LOCK_LOST', `lost the lock on ${checkpointPath}: ${error.message}`)),
  );
  logger.info(`catalog: ${config.catalog.stocks.length} stocks; checkpoint through ${store.state.applied} committed orders (${checkpointPath}); the order leader brings it level with the log`);

  // Every frontend of the config gets each change pushed; a trade waits for every one but its own.
  const dialer = Dialer.forRole(config, CATALOG_CERT, logger);
  const { tls } = dialer;
  const deliveries = config.frontends.map((frontend, index) => ({ name: frontendName(frontend), ...linkDelivery(dialer.link('frontend', frontend, frontendCertName(index + 1))) }));
  const invalidator = new Invalidator(deliveries, { versions: () => store.versions(), logger });

  const metrics = new Metrics();
  const countRequest = metrics.requests('bazaar_catalog');
  metrics.counterOf('bazaar_catalog_trades_total', 'Committed orders applied.', () => store.state.applied);
  metrics.gauge('bazaar_catalog_ready', '1 once the catalog is level with the order log (it serves); 0 while it rebuilds.', () => (store.state.ready ? 1 : 0));

  for (const warning of listenerWarnings(config, config.catalog)) logger.warn(`catalog: ${warning}`);

  const http = createJsonServer({
    name: 'catalog',
    logger,
    token: config.token,
    onReply: countRequest,
    onStorageFailure: fail,
    tls: tls === undefined ? undefined : tlsListener({ label: 'catalog', tls, logger }),
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
