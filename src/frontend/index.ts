// `bazaar frontend`: the public REST API. Lookups go to the catalog, trades and order queries to
// the chosen order replica; every failure of a peer becomes a clear error, never a hang.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { baseUrl, openInternalsWarning, type Config } from '../core/config.ts';
import { BazaarError } from '../core/errors.ts';
import { type Handle, fatalSignal, idempotent } from '../core/lifecycle.ts';
import { FAILOVER_ATTEMPTS_MAX, FAILOVER_RETRY_DELAY_MS, FRONTEND_IN_FLIGHT_MAX, ORDER_CALL_TIMEOUT_MS } from '../core/limits.ts';
import { createLogger, type Logger } from '../core/logger.ts';
import { isValidStockName, parseIdempotencyKey, parseOrderNumber, parseTradeRequest, quoteForMessage, type Stock } from '../core/trade.ts';
import { dataOf, Upstream, upstreamError, type UpstreamReply } from '../http/client.ts';
import { Metrics } from '../http/metrics.ts';
import { createJsonServer } from '../http/server.ts';
import { parseStockReply } from '../protocol/catalog.ts';
import { orderPath, parseOrderReply, parsePlaceOrderReply, PLACE_ORDER_PATH } from '../protocol/orders.ts';
import { parseInvalidationMessage, PUSH_PATH } from '../protocol/push.ts';
import { StockCache } from './cache.ts';
import { LeaderChooser, type ReplicaClient } from './leader.ts';

export interface FrontendHandle extends Handle {
  readonly address: AddressInfo;
}

/** Command-line overrides of the config's `cache` section. */
export interface FrontendOptions {
  readonly cacheEnabled?: boolean;
  readonly cacheMax?: number;
}

export async function start(config: Config, logger: Logger = createLogger(), options: FrontendOptions = {}): Promise<FrontendHandle> {
  const { fatal } = fatalSignal();
  const cache = new StockCache({ enabled: options.cacheEnabled ?? config.cache.enabled, max: options.cacheMax ?? config.cache.max });
  const catalog = new Upstream('catalog', baseUrl(config.catalog), { token: config.token });
  const leaders = new LeaderChooser(config.orders, config.token, logger);

  const metrics = new Metrics();
  const countRequest = metrics.counter('bazaar_frontend_requests_total', 'Requests answered, by route and status.');
  const countSeconds = metrics.counter('bazaar_frontend_request_seconds_total', 'Time spent answering requests, by route (cached lookups answered on the fast path are counted in requests_total but not timed).');
  metrics.gauge('bazaar_frontend_leader_elections_total', 'Leader elections this frontend started.', () => leaders.elections);
  metrics.gauge('bazaar_frontend_cache_hits_total', 'Lookups answered from the cache.', () => cache.stats().hits);
  metrics.gauge('bazaar_frontend_cache_misses_total', 'Lookups that went to the catalog (caching on).', () => cache.stats().misses);
  metrics.gauge('bazaar_frontend_cache_evictions_total', 'Entries dropped to stay within the size bound.', () => cache.stats().evictions);
  metrics.gauge('bazaar_frontend_cache_invalidations_total', 'Entries dropped because the catalog said the stock changed.', () => cache.stats().invalidations);
  metrics.gauge('bazaar_frontend_cache_resets_total', 'Times the whole cache was dropped after a missed push.', () => cache.stats().resets);
  metrics.gauge('bazaar_frontend_cache_entries', 'Entries in the cache now.', () => cache.stats().size);

  /**
   * Sends a call to the leader; if the leader is gone, hung or no longer leads, chooses again and
   * retries. Trades carry their idempotency key, so a retry never trades twice.
   */
  const callLeader = async (method: 'GET' | 'POST', path: string, body?: unknown): Promise<UpstreamReply> => {
    let last: BazaarError | undefined;
    for (let attempt = 1; attempt <= FAILOVER_ATTEMPTS_MAX; attempt += 1) {
      const leader: ReplicaClient = await leaders.current();
      try {
        const reply = await leader.upstream.call(method, path, body, { timeoutMs: ORDER_CALL_TIMEOUT_MS });
        // A leader that cannot reach a majority stays leader: wait, then retry the same key there.
        if (reply.errorCode === 'NO_QUORUM') {
          last = upstreamError(reply, `order replica ${leader.id} cannot reach a majority`);
          await sleep(FAILOVER_RETRY_DELAY_MS);
          continue;
        }
        // Only "I do not lead (any more)" means choosing again; any other reply, a 503 because the
        // catalog is down included, is the answer.
        if (reply.errorCode !== 'NOT_LEADER' && reply.errorCode !== 'SHUTTING_DOWN') return reply;
        last = upstreamError(reply, `order replica ${leader.id} does not lead`);
      } catch (error) {
        if (!(error instanceof BazaarError) || error.code !== 'UPSTREAM_UNAVAILABLE') throw error;
        last = error;
      }
      logger.warn(`frontend: order replica ${leader.id} failed (${last.message}); choosing the leader again`);
      leaders.forget(leader);
    }
    throw new BazaarError('NO_LEADER', `the order service is unavailable (${last?.message ?? 'no attempt'}); retry shortly`, { retryAfterS: 1 });
  };

  const openWarning = openInternalsWarning(config, config.frontend);
  if (openWarning !== undefined) logger.warn(`frontend: ${openWarning}`);

  // A cached lookup is answered synchronously, allocating nothing per request; everything else (a
  // miss, a name that needs decoding, a query string) takes the general path below.
  const countCachedLookup = metrics.series('bazaar_frontend_requests_total', { route: 'GET /stocks/:name', status: '200' });
  const fastPath = (req: IncomingMessage, res: ServerResponse): boolean => {
    const url = req.url;
    if (req.method !== 'GET' || url === undefined || !url.startsWith('/stocks/')) return false;
    const name = url.slice('/stocks/'.length);
    if (!isValidStockName(name)) return false;
    const cached = cache.hit(name);
    if (cached === undefined) return false;
    res.writeHead(200, cached.headers as string[]);
    res.end(cached.body);
    countCachedLookup();
    return true;
  };

  const http = createJsonServer({
    name: 'frontend',
    logger,
    token: config.token,
    inFlightMax: FRONTEND_IN_FLIGHT_MAX,
    fastPath,
    onReply: (route, status, durationMs) => {
      countRequest({ route, status: String(status) });
      countSeconds({ route }, durationMs / 1000);
    },
    routes: [
      {
        method: 'GET',
        path: '/health',
        handler: () => ({ body: { data: { role: 'frontend', status: 'up', leader: leaders.currentId ?? null, epoch: leaders.currentEpoch, cache: cache.stats() } } }),
      },
      { method: 'GET', path: '/metrics', handler: () => ({ body: metrics.render() }) },
      {
        method: 'GET',
        path: '/stocks/:name',
        handler: async ({ params }) => {
          const name = params.name!;
          if (!isValidStockName(name)) throw new BazaarError('STOCK_NOT_FOUND', `no stock named ${quoteForMessage(name)}`);
          const cached = cache.get(name);
          if (cached !== undefined) return { json: cached.body };
          const found = parseStockReply(dataOf(await catalog.call('GET', `/stocks/${encodeURIComponent(name)}`), 'the catalog could not look the stock up'));
          const stock: Stock = { name: found.name, price: found.price, quantity: found.quantity, volume: found.volume };
          cache.fill(stock, found.version);
          return { body: { data: stock } };
        },
      },
      {
        method: 'POST',
        path: PUSH_PATH,
        internal: true,
        handler: async ({ json }) => {
          cache.apply(parseInvalidationMessage(await json()));
          return { body: { data: { ok: true } } };
        },
      },
      {
        method: 'POST',
        path: '/orders',
        handler: async ({ req, json }) => {
          const header = req.headers['idempotency-key'];
          // Parse the key before the body, so a bad key is refused whatever the body says.
          const key = header === undefined ? `fe-${randomUUID()}` : parseIdempotencyKey(header);
          const trade = parseTradeRequest(await json());
          const data = parsePlaceOrderReply(dataOf(await callLeader('POST', PLACE_ORDER_PATH, { key, ...trade }), 'the order service refused the order'));
          return { body: { data: { transaction_number: data.transaction_number } } };
        },
      },
      {
        method: 'GET',
        path: '/orders/:number',
        handler: async ({ params }) => {
          const number = parseOrderNumber(params.number!);
          const order = parseOrderReply(dataOf(await callLeader('GET', orderPath(number)), 'the order service could not look the order up'));
          return { body: { data: order } };
        },
      },
    ],
  });

  let address: AddressInfo;
  try {
    address = await http.listen(config.frontend.bind, config.frontend.port);
  } catch (error) {
    await Promise.all([catalog.close(), leaders.close()]);
    throw error;
  }
  logger.info(`frontend: listening on ${config.frontend.bind}:${address.port}; cache ${cache.enabled ? `on, ${cache.max} entries at most` : 'off'}`);

  return {
    address,
    fatal,
    close: idempotent(async () => {
      await http.close();
      await Promise.all([catalog.close(), leaders.close()]);
    }),
  };
}
