// `bazaar frontend`: the public REST API. Lookups go to the catalog, trades and order queries to
// the chosen order replica; every failure of a peer becomes a clear error, never a hang.
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { baseUrl, type Config } from '../core/config.ts';
import { BazaarError } from '../core/errors.ts';
import { type Handle, fatalSignal, idempotent } from '../core/lifecycle.ts';
import { FAILOVER_ATTEMPTS_MAX, FAILOVER_RETRY_DELAY_MS, ORDER_CALL_TIMEOUT_MS } from '../core/limits.ts';
import { createLogger, type Logger } from '../core/logger.ts';
import { isValidStockName, parseIdempotencyKey, parseOrderNumber, parseTradeRequest, quoteForMessage } from '../core/trade.ts';
import { dataOf, Upstream, upstreamError, type UpstreamReply } from '../http/client.ts';
import { Metrics } from '../http/metrics.ts';
import { createJsonServer } from '../http/server.ts';
import { LeaderChooser, type ReplicaClient } from './leader.ts';

export interface FrontendHandle extends Handle {
  readonly address: AddressInfo;
}

export async function start(config: Config, logger: Logger = createLogger()): Promise<FrontendHandle> {
  const { fatal } = fatalSignal();
  const catalog = new Upstream('catalog', baseUrl(config.catalog), { token: config.token });
  const leaders = new LeaderChooser(config.orders, config.token, logger);

  const metrics = new Metrics();
  const countRequest = metrics.counter('bazaar_frontend_requests_total', 'Requests answered, by route and status.');
  const countSeconds = metrics.counter('bazaar_frontend_request_seconds_total', 'Time spent answering requests, by route.');
  metrics.gauge('bazaar_frontend_leader_elections_total', 'Leader elections this frontend started.', () => leaders.elections);

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

  const http = createJsonServer({
    name: 'frontend',
    logger,
    onReply: (route, status, durationMs) => {
      countRequest({ route, status: String(status) });
      countSeconds({ route }, durationMs / 1000);
    },
    routes: [
      {
        method: 'GET',
        path: '/health',
        handler: () => ({ body: { data: { role: 'frontend', status: 'up', leader: leaders.currentId ?? null, epoch: leaders.currentEpoch } } }),
      },
      { method: 'GET', path: '/metrics', handler: () => ({ body: metrics.render() }) },
      {
        method: 'GET',
        path: '/stocks/:name',
        handler: async ({ params }) => {
          const name = params.name!;
          if (!isValidStockName(name)) throw new BazaarError('STOCK_NOT_FOUND', `no stock named ${quoteForMessage(name)}`);
          const stock = dataOf(await catalog.call('GET', `/stocks/${encodeURIComponent(name)}`), 'the catalog could not look the stock up') as {
            name: string;
            price: number;
            quantity: number;
            volume: number;
          };
          return { body: { data: { name: stock.name, price: stock.price, quantity: stock.quantity, volume: stock.volume } } };
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
          const data = dataOf(await callLeader('POST', '/orders', { key, ...trade }), 'the order service refused the order') as {
            transaction_number: number;
          };
          return { body: { data: { transaction_number: data.transaction_number } } };
        },
      },
      {
        method: 'GET',
        path: '/orders/:number',
        handler: async ({ params }) => {
          const number = parseOrderNumber(params.number!);
          const order = dataOf(await callLeader('GET', `/orders/${number}`), 'the order service could not look the order up');
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
  logger.info(`frontend: listening on ${config.frontend.bind}:${address.port}`);

  return {
    address,
    fatal,
    close: idempotent(async () => {
      await http.close();
      await Promise.all([catalog.close(), leaders.close()]);
    }),
  };
}
