// `bazaar frontend`: the public REST API. Lookups go to the catalog, trades and order queries to
// the chosen order replica; every failure of a peer becomes a clear error, never a hang.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Config, frontendName, listenerWarnings } from '../core/config.ts';
import { ConfigError } from '../core/errors.ts';
import { type Handle, fatalSignal, idempotent } from '../core/lifecycle.ts';
import { FRONTEND_IN_FLIGHT_MAX } from '../core/limits.ts';
import { createLogger, type Logger } from '../core/logger.ts';
import { isValidStockName } from '../core/trade.ts';
import { Dialer } from '../http/dial.ts';
import { CATALOG_CERT, frontendCertName } from '../tls/names.ts';
import { publicListener, readKeyPair, tlsListener } from '../tls/server.ts';
import { Metrics } from '../http/metrics.ts';
import { createJsonServer } from '../http/server.ts';
import { StockCache } from './cache.ts';
import { leaderCaller } from './failover.ts';
import { frontendRoutes } from './routes.ts';
import { LeaderChooser } from './leader.ts';

export interface FrontendHandle extends Handle {
  readonly address: AddressInfo;
}

/** Command-line overrides of the config's `cache` section. */
export interface FrontendOptions {
  readonly cacheEnabled?: boolean;
  readonly cacheMax?: number;
  /** Which of the config's frontends this is, from 1 (the default). */
  readonly index?: number;
}

export async function start(config: Config, logger: Logger = createLogger(), options: FrontendOptions = {}): Promise<FrontendHandle> {
  const { fatal } = fatalSignal();
  const index = options.index ?? 1;
  const endpoint = config.frontends[index - 1];
  if (endpoint === undefined) throw new ConfigError(`there is no frontend ${index} in ${config.configPath}: it lists ${config.frontends.length}`);
  const cache = new StockCache({ enabled: options.cacheEnabled ?? config.cache.enabled, max: options.cacheMax ?? config.cache.max });
  const label = `frontend${config.frontends.length > 1 ? ` ${index}` : ''}`;
  const dialer = Dialer.forRole(config, frontendCertName(index), logger);
  const { tls } = dialer;
  const publicPair = endpoint.tls === undefined ? undefined : readKeyPair(endpoint.tls);
  const catalog = dialer.link('catalog', config.catalog, CATALOG_CERT);
  const leaders = new LeaderChooser(config.orders, dialer, logger);

  const metrics = new Metrics();
  const countRequest = metrics.requests('bazaar_frontend');
  metrics.counterOf('bazaar_frontend_leader_elections_total', 'Leader elections this frontend started.', () => leaders.elections);
  metrics.counterOf('bazaar_frontend_cache_hits_total', 'Lookups answered from the cache.', () => cache.stats().hits);
  metrics.counterOf('bazaar_frontend_cache_misses_total', 'Lookups that went to the catalog (caching on).', () => cache.stats().misses);
  metrics.counterOf('bazaar_frontend_cache_evictions_total', 'Entries dropped to stay within the size bound.', () => cache.stats().evictions);
  metrics.counterOf('bazaar_frontend_cache_invalidations_total', 'Entries dropped because the catalog said the stock changed.', () => cache.stats().invalidations);
  metrics.counterOf('bazaar_frontend_cache_resets_total', 'Times the whole cache was dropped after a missed push.', () => cache.stats().resets);
  metrics.gauge('bazaar_frontend_cache_entries', 'Entries in the cache now.', () => cache.stats().size);

  const callLeader = leaderCaller(leaders, logger);

  for (const warning of listenerWarnings(config, endpoint)) logger.warn(`${label}: ${warning}`);

  // A cached lookup is answered synchronously, allocating nothing per request; everything else (a
  // miss, a name that needs decoding, a query string) takes the general path below.
  const countCachedLookup = metrics.series('bazaar_frontend_requests_total', { route: 'GET /stocks/:name', status: '200' });
  const timeCachedLookup = metrics.histogramSeries('bazaar_frontend_request_duration_seconds', 'GET /stocks/:name');
  const fastPath = (req: IncomingMessage, res: ServerResponse): boolean => {
    const startedAt = performance.now();
    const url = req.url;
    if (req.method !== 'GET' || url === undefined || !url.startsWith('/stocks/')) return false;
    const name = url.slice('/stocks/'.length);
    if (!isValidStockName(name)) return false;
    const cached = cache.hit(name);
    if (cached === undefined) return false;
    res.writeHead(200, cached.headers as string[]);
    res.end(cached.body);
    countCachedLookup();
    timeCachedLookup((performance.now() - startedAt) / 1000);
    return true;
  };

  const http = createJsonServer({
    name: 'frontend',
    logger,
    token: config.token,
    inFlightMax: FRONTEND_IN_FLIGHT_MAX,
    fastPath,
    onReply: countRequest,
    // Anyone may use the public API; internal routes and links need a certificate of the cluster.
    tls: tls !== undefined ? tlsListener({ label, tls, logger, publicAllowed: true, publicPair }) : publicPair === undefined ? undefined : publicListener(publicPair, label, logger),
    routes: frontendRoutes({ origin: frontendName(endpoint), cache, catalog, leaders, callLeader, metrics }),
  });

  let address: AddressInfo;
  try {
    address = await http.listen(endpoint.bind, endpoint.port);
  } catch (error) {
    await Promise.all([catalog.close(), leaders.close()]);
    throw error;
  }
  logger.info(`${label}: listening on ${endpoint.bind}:${address.port}${endpoint.scheme === 'https' ? ' (https)' : ''}; cache ${cache.enabled ? `on, ${cache.max} entries at most` : 'off'}`);
  // The leader is chosen now, as the lab's handout says, so the cluster has one before the first trade.
  void leaders.chooseAtStart();

  return {
    address,
    fatal,
    close: idempotent(async () => {
      await http.close();
      await Promise.all([catalog.close(), leaders.close()]);
    }),
  };
}
