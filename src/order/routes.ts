// The order replica's endpoints, one named handler each: the frontend's (trades, order queries,
// leader notices), the other replicas' (poll, append, entries, rejoin, recover), and the fault drill.
import { BazaarError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { orderView, type OrderView } from '../core/trade.ts';
import { serve } from '../http/message.ts';
import type { Metrics } from '../http/metrics.ts';
import type { Reply, Route } from '../http/server.ts';
import { orderHealth } from '../protocol/health.ts';
import { CRASH, type OriginTrade, PLACE_ORDER, type PlaceOrderReply, READ_ORDER } from '../protocol/orders.ts';
import { APPEND, ENTRIES, LEADER_NOTICE, POLL, RECOVER, type RecoverRequest, REJOIN, type RejoinRequest } from '../protocol/replication.ts';
import type { ReplicaNode } from './node.ts';

export function orderRoutes(replica: ReplicaNode, peers: readonly number[], logger: Logger, metrics: Metrics): Route[] {
  const id = replica.id;

  function health(): Reply {
    return { body: { data: orderHealth(replica.status()) } };
  }

  function metricsText(): Reply {
    return { body: metrics.render() };
  }

  async function placeOrder({ trade, origin }: OriginTrade): Promise<PlaceOrderReply> {
    const placed = await replica.place(trade, origin);
    return { transaction_number: placed.number, version: placed.version };
  }

  function readOrder(number: number): OrderView {
    const entry = replica.order(number);
    if (entry === undefined) throw new BazaarError('ORDER_NOT_FOUND', `no order with number ${number}`);
    return orderView(entry);
  }

  function rejoin({ id: peer }: RejoinRequest): { ok: true } {
    if (!peers.includes(peer)) throw new BazaarError('BAD_REQUEST', 'field "id" must be the id of a configured peer');
    replica.rejoin(peer);
    return { ok: true };
  }

  function recover({ id: peer }: RecoverRequest) {
    if (!peers.includes(peer)) throw new BazaarError('BAD_REQUEST', 'field "id" must be the id of a configured peer');
    return replica.recoverReply();
  }

  function crash(): { crashing: number } {
    // A real crash for fault drills: SIGKILL to itself, no flush, no cleanup, no lock release.
    logger.warn(`order ${id}: crashing on request (SIGKILL)`);
    setImmediate(() => process.kill(process.pid, 'SIGKILL'));
    return { crashing: id };
  }

  return [
    { method: 'GET', path: '/health', handler: health },
    { method: 'GET', path: '/metrics', handler: metricsText },
    serve(PLACE_ORDER, placeOrder),
    serve(READ_ORDER, readOrder),
    serve(LEADER_NOTICE, async (notice) => orderHealth(await replica.handleLeaderNotice(notice))),
    serve(POLL, (request) => replica.handlePoll(request)),
    serve(APPEND, (request) => replica.handleAppend(request)),
    serve(ENTRIES, ({ from, limit }) => replica.entries(from, limit)),
    serve(REJOIN, rejoin),
    serve(RECOVER, recover),
    serve(CRASH, crash),
  ];
}
