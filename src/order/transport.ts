// The replicas' messages, one link per peer (link/client.ts): every message a frame, a deadline on every call.
import { baseUrl, type ReplicaEndpoint } from '../core/config.ts';
import { CATCH_UP_TIMEOUT_MS, REPLICATION_TIMEOUT_MS } from '../core/limits.ts';
import type { OrderEntry } from '../core/trade.ts';
import { dataOf } from '../http/client.ts';
import { LinkUpstream } from '../link/client.ts';
import {
  type AppendReply,
  type AppendRequest,
  parseAppendReply,
  parseEntries,
  parsePollReply,
  type PollReply,
  type PollRequest,
} from '../protocol/replication.ts';

/** How a replica reaches its peers; links in production. Failures reject. */
export interface PeerTransport {
  poll(peer: number, request: PollRequest): Promise<PollReply>;
  append(peer: number, request: AppendRequest): Promise<AppendReply>;
  entries(peer: number, from: number, limit: number): Promise<OrderEntry[]>;
}

export class LinkTransport implements PeerTransport {
  private readonly peers = new Map<number, LinkUpstream>();

  constructor(peers: readonly ReplicaEndpoint[], token: string | undefined) {
    for (const peer of peers) this.peers.set(peer.id, new LinkUpstream(`order replica ${peer.id}`, baseUrl(peer), { token }));
  }

  private peer(id: number): LinkUpstream {
    const upstream = this.peers.get(id);
    if (upstream === undefined) throw new Error(`replica ${id} is not a configured peer`);
    return upstream;
  }

  async poll(peer: number, request: PollRequest): Promise<PollReply> {
    const reply = await this.peer(peer).call('POST', '/internal/poll', request, { timeoutMs: REPLICATION_TIMEOUT_MS });
    return parsePollReply(dataOf(reply, `replica ${peer} refused the poll`));
  }

  async append(peer: number, request: AppendRequest): Promise<AppendReply> {
    const reply = await this.peer(peer).call('POST', '/internal/append', request, { timeoutMs: REPLICATION_TIMEOUT_MS });
    return parseAppendReply(dataOf(reply, `replica ${peer} refused the entries`));
  }

  async entries(peer: number, from: number, limit: number): Promise<OrderEntry[]> {
    const reply = await this.peer(peer).call('GET', `/internal/entries?from=${from}&limit=${limit}`, undefined, { timeoutMs: CATCH_UP_TIMEOUT_MS });
    return parseEntries(dataOf(reply, `replica ${peer} could not send entries`), from);
  }

  async close(): Promise<void> {
    await Promise.all([...this.peers.values()].map((upstream) => upstream.close()));
  }
}
