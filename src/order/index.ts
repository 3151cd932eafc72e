// `bazaar order --id N`: one order replica, serving its log over HTTP.
import type { AddressInfo } from 'node:net';
import { baseUrl, findReplica, type Config } from '../core/config.ts';
import { BazaarError } from '../core/errors.ts';
import { type Handle, fatalSignal, idempotent } from '../core/lifecycle.ts';
import { createLogger, type Logger } from '../core/logger.ts';
import { dataPaths } from '../core/paths.ts';
import { type KeyedTrade, orderView, parseKeyedTrade, parseOrderNumber } from '../core/trade.ts';
import { dataOf, Upstream } from '../http/client.ts';
import { createJsonServer } from '../http/server.ts';
import { JsonlOrderLog } from './log.ts';
import { type CatalogPort, OrderReplica } from './replica.ts';

export interface OrderHandle extends Handle {
  readonly address: AddressInfo;
}

function httpCatalog(upstream: Upstream): CatalogPort {
  return {
    trade: async (trade: KeyedTrade) => {
      dataOf(await upstream.call('POST', '/trades', trade), 'the catalog refused the trade');
    },
  };
}

export async function start(config: Config, id: number, logger: Logger = createLogger()): Promise<OrderHandle> {
  const endpoint = findReplica(config, id);
  const { fatal, fail } = fatalSignal();
  const logPath = dataPaths(config.dataDir).orderLog(id);
  const { log, cutBytes } = await JsonlOrderLog.open(logPath, (error) => fail(new Error(`lost the lock on ${logPath}: ${error.message}`)));
  if (cutBytes > 0) logger.warn(`order ${id}: cut a torn last line (${cutBytes} bytes) from ${logPath}`);
  logger.info(`order ${id}: ${log.length} orders in ${logPath}`);

  const catalog = new Upstream('catalog', baseUrl(config.catalog), { token: config.token });
  const replica = new OrderReplica(id, log, httpCatalog(catalog));

  const http = createJsonServer({
    name: `order ${id}`,
    logger,
    token: config.token,
    routes: [
      { method: 'GET', path: '/health', handler: () => ({ body: { data: { role: 'order', status: 'up', ...replica.status() } } }) },
      {
        method: 'POST',
        path: '/orders',
        internal: true,
        handler: async ({ json }) => {
          const trade = parseKeyedTrade(await json());
          try {
            return { body: { data: { transaction_number: await replica.placeOrder(trade) } } };
          } catch (error) {
            if (error instanceof BazaarError && error.code === 'STORAGE_FAILED') fail(error);
            throw error;
          }
        },
      },
      {
        method: 'GET',
        path: '/orders/:number',
        internal: true,
        handler: ({ params }) => {
          const number = parseOrderNumber(params.number!);
          const entry = replica.order(number);
          if (entry === undefined) throw new BazaarError('ORDER_NOT_FOUND', `no order with number ${number}`);
          return { body: { data: orderView(entry) } };
        },
      },
    ],
  });

  let address: AddressInfo;
  try {
    address = await http.listen(endpoint.bind, endpoint.port);
  } catch (error) {
    await Promise.all([log.close(), catalog.close()]);
    throw error;
  }
  logger.info(`order ${id}: listening on ${endpoint.bind}:${address.port}`);

  return {
    address,
    fatal,
    close: idempotent(async () => {
      await http.close();
      await Promise.all([log.close(), catalog.close()]);
    }),
  };
}
