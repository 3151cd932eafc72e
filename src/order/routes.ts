// The order replica's endpoints, one named handler each: the frontend's (trades, order queries,
// leader notices), the other replicas' (poll, append, entries, rejoin), and the fault drill.
import { BazaarError } from '../core/errors.ts';
import { REPLICATION_BODY_BYTES_MAX } from '../core/limits.ts';
import type { Logger } from '../core/logger.ts';
import { orderView, parseOrderNumber } from '../core/trade.ts';
import type { Metrics } from '../http/metrics.ts';
import type { Reply, RequestContext, Route } from '../http/server.ts';
import { orderHealth } from '../protocol/health.ts';
import { parseOriginTrade, PLACE_ORDER_PATH, type PlaceOrderReply } from '../protocol/orders.ts';
import { parseAppendRequest, parseLeaderNotice, parsePollRequest } from '../protocol/replication.ts';
import type { ReplicaNode } from './node.ts';

function queryInteger(context: RequestContext, name: string, fallback: number): number {
  const text = context.query.get(name);
  if (text === null) return fallback;
  if (!/^\d{1,15}$/.test(text)) throw new BazaarError('BAD_REQUEST', `query parameter "${name}" must be a non-negative integer`);
  return Number(text);
}

export function orderRoutes(replica: ReplicaNode, peers: readonly number[], logger: Logger, metrics: Metrics): Route[] {
  const id = replica.id;

  function health(): Reply {
    return { body: { data: orderHealth(replica.status()) } };
  }

  function metricsText(): Reply {
    return { body: metrics.render() };
  }

  async function placeOrder({ json }: RequestContext): Promise<Reply> {
    const { trade, origin } = parseOriginTrade(await json());
    const placed = await replica.place(trade, origin);
    const data: PlaceOrderReply = { transaction_number: placed.number, version: placed.version };
    return { body: { data } };
  }

  function readOrder({ params }: RequestContext): Reply {
    const number = parseOrderNumber(params.number!);
    const entry = replica.order(number);
    if (entry === undefined) throw new BazaarError('ORDER_NOT_FOUND', `no order with number ${number}`);
    return { body: { data: orderView(entry) } };
  }

  async function leaderNotice({ json }: RequestContext): Promise<Reply> {
    const notice = parseLeaderNotice(await json());
    return { body: { data: await replica.handleLeaderNotice(notice) } };
  }

  async function poll({ json }: RequestContext): Promise<Reply> {
    const request = parsePollRequest(await json());
    return { body: { data: await replica.handlePoll(request) } };
  }

  async function append({ json }: RequestContext): Promise<Reply> {
    const request = parseAppendRequest(await json());
    return { body: { data: await replica.handleAppend(request) } };
  }

  function entries(context: RequestContext): Reply {
    return { body: { data: replica.entries(queryInteger(context, 'from', 0), queryInteger(context, 'limit', 1)) } };
  }

  async function rejoin({ json }: RequestContext): Promise<Reply> {
    const body = (await json()) as { id?: unknown } | null;
    const peer = body?.id;
    if (typeof peer !== 'number' || !peers.includes(peer)) throw new BazaarError('BAD_REQUEST', 'field "id" must be the id of a configured peer');
    replica.rejoin(peer);
    return { body: { data: { ok: true } } };
  }

  function crash(): Reply {
    // A real crash for fault drills: SIGKILL to itself, no flush, no cleanup, no lock release.
    logger.warn(`order ${id}: crashing on request (SIGKILL)`);
    setImmediate(() => process.kill(process.pid, 'SIGKILL'));
    return { status: 202, body: { data: { crashing: id } } };
  }

  return [
    { method: 'GET', path: '/health', handler: health },
    { method: 'GET', path: '/metrics', handler: metricsText },
    { method: 'POST', path: PLACE_ORDER_PATH, internal: true, handler: placeOrder },
    { method: 'GET', path: '/orders/:number', internal: true, handler: readOrder },
    { method: 'POST', path: '/internal/leader', internal: true, handler: leaderNotice },
    { method: 'POST', path: '/internal/poll', internal: true, handler: poll },
    { method: 'POST', path: '/internal/append', internal: true, bodyBytesMax: REPLICATION_BODY_BYTES_MAX, handler: append },
    { method: 'GET', path: '/internal/entries', internal: true, handler: entries },
    { method: 'POST', path: '/internal/rejoin', internal: true, handler: rejoin },
    { method: 'POST', path: '/internal/crash', internal: true, handler: crash },
  ];
}
