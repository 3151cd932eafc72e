// `bazaar order --id N`: one order replica. Its log and state on disk, its peers and the catalog over
// links, and the endpoints through which the frontend and the other replicas reach it.
import type { AddressInfo } from 'node:net';
import { type Config, findReplica, listenerWarnings, type ReplicaEndpoint } from '../core/config.ts';
import { type Handle, fatalSignal, idempotent } from '../core/lifecycle.ts';
import { LEADER_PING_TIMEOUT_MS, ONE_OFF_CONNECTIONS_MAX } from '../core/limits.ts';
import { createLogger, type Logger } from '../core/logger.ts';
import { dataPaths } from '../core/paths.ts';
import { type Caller, dataOf, type Upstream } from '../http/client.ts';
import { Dialer } from '../http/dial.ts';
import { CATALOG_CERT, replicaCertName } from '../tls/names.ts';
import { tlsListener } from '../tls/server.ts';
import { Metrics } from '../http/metrics.ts';
import { createJsonServer } from '../http/server.ts';
import { send } from '../http/message.ts';
import { CATALOG_APPLY, CATALOG_APPROVE } from '../protocol/catalog.ts';
import { parseOrderHealth } from '../protocol/health.ts';
import { REJOIN } from '../protocol/replication.ts';
import { StorageError } from '../storage/errors.ts';
import { openReplicaDisk } from '../disk/open.ts';
import { type CatalogPort, ReplicaNode } from './node.ts';
import { orderRoutes } from './routes.ts';
import { LinkTransport } from './transport.ts';

export interface OrderHandle extends Handle {
  readonly address: AddressInfo;
}

function catalogPort(upstream: Caller): CatalogPort {
  return {
    approve: (call) => send(upstream, CATALOG_APPROVE, call, 'the catalog refused the trade'),
    apply: (request) => send(upstream, CATALOG_APPLY, request, 'the catalog did not apply committed orders'),
  };
}


export async function start(config: Config, id: number, logger: Logger = createLogger()): Promise<OrderHandle> {
  const endpoint = findReplica(config, id);
  const peers = config.orders.filter((replica) => replica.id !== id);
  const { fatal, fail } = fatalSignal();
  const logPath = dataPaths(config.dataDir).orderLog(id);
  const disk = await openReplicaDisk(config, id, (error) => fail(new StorageError('LOCK_LOST', `lost the lock on ${logPath}: ${error.message}`)));
  const { log, cutBytes, stateStore, state } = disk;
  if (cutBytes > 0) logger.warn(`order ${id}: cut a torn last line (${cutBytes} bytes) from ${logPath}`);
  for (const note of disk.notes) logger.warn(`order ${id}: ${note}`);
  logger.info(`order ${id}: ${log.length} orders in ${logPath}; epoch ${state.epoch}, log epoch ${state.logEpoch}; disk ${disk.identity.disk}`);
  if (disk.recovering !== undefined) logger.warn(`order ${id}: ${disk.recovering}: recovering from its peers; it takes part in no election and no majority until it holds the leader's log`);

  const dialer = Dialer.forRole(config, replicaCertName(id), logger);
  const { tls } = dialer;
  const catalog = dialer.link('catalog', config.catalog, CATALOG_CERT);
  const transport = new LinkTransport(peers, dialer);
  const metrics = new Metrics();
  const stage = metrics.stages('bazaar_order');
  const replica = new ReplicaNode({
    id,
    peers: peers.map((peer) => peer.id),
    log,
    stateStore,
    state,
    catalog: catalogPort(catalog),
    transport,
    onEvent: (message) => logger.info(`order ${id}: ${message}`),
    onStorageFailure: fail,
    onStage: stage,
  });
  metrics.gauge('bazaar_order_log_entries', 'Entries in this replica\'s log.', () => replica.status().lastNumber + 1);
  metrics.gauge('bazaar_order_epoch', 'The epoch this replica is in.', () => replica.status().epoch);
  metrics.gauge('bazaar_order_leading', '1 while this replica is the serving leader, else 0.', () => (replica.status().serving ? 1 : 0));
  metrics.gauge('bazaar_order_recovering', '1 while this replica recovers a lost or damaged disk from its peers (it counts toward no majority), else 0.', () => (replica.status().recovery === null ? 0 : 1));

  for (const warning of listenerWarnings(config, endpoint)) logger.warn(`order ${id}: ${warning}`);

  const http = createJsonServer({
    name: `order ${id}`,
    logger,
    token: config.token,
    onReply: metrics.requests('bazaar_order'),
    tls: tls === undefined ? undefined : tlsListener({ label: `order ${id}`, tls, logger }),
    routes: orderRoutes(replica, peers.map((peer) => peer.id), logger, metrics),
    // A storage failure means this replica can no longer promise anything: stop, and let a supervisor restart it.
    onStorageFailure: fail,
  });

  let address: AddressInfo;
  try {
    address = await http.listen(endpoint.bind, endpoint.port);
  } catch (error) {
    await Promise.all([log.close(), catalog.close(), transport.close()]);
    throw error;
  }
  logger.info(`order ${id}: listening on ${endpoint.bind}:${address.port}`);
  // A recovering replica finds its leader itself (replica/recovery.ts).
  if (disk.recovering === undefined) void askLeaderToCatchUp(id, peers, dialer, logger);

  return {
    address,
    fatal,
    close: idempotent(async () => {
      replica.close();
      await http.close();
      await Promise.all([log.close(), catalog.close(), transport.close()]);
    }),
  };
}

/**
 * On start, a replica finds who leads (the peer that says so in the highest epoch) and asks it to send
 * what this replica missed now, instead of at its next retry.
 */
async function askLeaderToCatchUp(id: number, peers: readonly ReplicaEndpoint[], dialer: Dialer, logger: Logger): Promise<void> {
  const upstreams = peers.map((peer) => ({ peer, upstream: dialer.http(`order replica ${peer.id}`, peer, replicaCertName(peer.id), ONE_OFF_CONNECTIONS_MAX) }));
  try {
    let leader: { upstream: Upstream; id: number; epoch: number } | undefined;
    await Promise.all(
      upstreams.map(async ({ peer, upstream }) => {
        try {
          const health = parseOrderHealth(dataOf(await upstream.call('GET', '/health', undefined, { timeoutMs: LEADER_PING_TIMEOUT_MS }), 'health'));
          if (health.state === 'leader' && (leader === undefined || health.epoch > leader.epoch)) {
            leader = { upstream, id: peer.id, epoch: health.epoch };
          }
        } catch {
          // That peer is down; another may lead.
        }
      }),
    );
    if (leader === undefined) return;
    await send(leader.upstream, REJOIN, { id }, `leader ${leader.id} refused to catch this replica up`, { timeoutMs: LEADER_PING_TIMEOUT_MS });
    logger.info(`order ${id}: asked leader ${leader.id} (epoch ${leader.epoch}) for the orders it missed`);
  } catch (error) {
    logger.warn(`order ${id}: could not ask the leader to catch this replica up (${(error as Error).message}); it will be caught up at the leader's next retry`);
  } finally {
    await Promise.all(upstreams.map(({ upstream }) => upstream.close()));
  }
}
