// The replicas' messages, one link per peer (link/client.ts): every message a frame, a deadline on every call.
import type { ReplicaEndpoint } from '../core/config.ts';
import { CATCH_UP_TIMEOUT_MS, REPLICATION_TIMEOUT_MS } from '../core/limits.ts';
import type { OrderEntry } from '../core/trade.ts';
import { send } from '../http/message.ts';
import type { Dialer } from '../http/dial.ts';
import type { LinkUpstream } from '../link/client.ts';
import { replicaCertName } from '../tls/names.ts';
import { APPEND, type AppendReply, type AppendRequest, ENTRIES, POLL, type PollReply, type PollRequest, RECOVER, type RecoverReply, type RecoverRequest, REJOIN } from '../protocol/replication.ts';

/** How a replica reaches its peers; links in production. Failures reject. */
export interface PeerTransport {
  poll(peer: number, request: PollRequest): Promise<PollReply>;
  append(peer: number, request: AppendRequest): Promise<AppendReply>;
  entries(peer: number, from: number, limit: number): Promise<OrderEntry[]>;
  recover(peer: number, request: RecoverRequest): Promise<RecoverReply>;
  rejoin(peer: number, id: number): Promise<unknown>;
}

export class LinkTransport implements PeerTransport {
  private readonly peers = new Map<number, LinkUpstream>();

  constructor(peers: readonly ReplicaEndpoint[], dialer: Dialer) {
    for (const peer of peers) this.peers.set(peer.id, dialer.link(`order replica ${peer.id}`, peer, replicaCertName(peer.id)));
  }

  private peer(id: number): LinkUpstream {
    const upstream = this.peers.get(id);
    if (upstream === undefined) throw new Error(`replica ${id} is not a configured peer`);
    return upstream;
  }

  poll(peer: number, request: PollRequest): Promise<PollReply> {
    return send(this.peer(peer), POLL, request, `replica ${peer} refused the poll`, { timeoutMs: REPLICATION_TIMEOUT_MS });
  }

  append(peer: number, request: AppendRequest): Promise<AppendReply> {
    return send(this.peer(peer), APPEND, request, `replica ${peer} refused the entries`, { timeoutMs: REPLICATION_TIMEOUT_MS });
  }

  entries(peer: number, from: number, limit: number): Promise<OrderEntry[]> {
    return send(this.peer(peer), ENTRIES, { from, limit }, `replica ${peer} could not send entries`, { timeoutMs: CATCH_UP_TIMEOUT_MS });
  }

  recover(peer: number, request: RecoverRequest): Promise<RecoverReply> {
    return send(this.peer(peer), RECOVER, request, `replica ${peer} did not say where the cluster stands`, { timeoutMs: REPLICATION_TIMEOUT_MS });
  }

  rejoin(peer: number, id: number): Promise<unknown> {
    return send(this.peer(peer), REJOIN, { id }, `leader ${peer} refused to catch this replica up`, { timeoutMs: REPLICATION_TIMEOUT_MS });
  }

  async close(): Promise<void> {
    await Promise.all([...this.peers.values()].map((upstream) => upstream.close()));
  }
}
