// Replicas wired by an in-memory network, for unit tests of the replication logic: no sockets, no
// disk, and faults (a replica down, a link dropping messages) set by the test.
import type { KeyedTrade, OrderEntry } from '../../src/core/trade.ts';
import { MemoryOrderLog } from '../../src/order/log.ts';
import type { Traded } from '../../src/order/replica/messages.ts';
import { type CatalogPort, ReplicaNode } from '../../src/order/node.ts';
import type { PeerTransport } from '../../src/order/transport.ts';
import type { AppendReply, AppendRequest, PollReply, PollRequest } from '../../src/protocol/replication.ts';
import { MemoryStateStore } from '../../src/order/state.ts';
import { until } from '../../harness/wait.ts';

/** A catalog that applies each key once, as the real one does, and counts what it applied. */
export class RecordingCatalog implements CatalogPort {
  readonly applied = new Map<string, KeyedTrade>();
  calls = 0;
  /** The `from` of every read of the applied trades (what reconciliation asked for). */
  readonly reads: number[] = [];
  /** Runs after a trade is applied and before the call returns: a crash "right after the catalog trade". */
  afterApply: ((trade: KeyedTrade) => void) | undefined;

  async trade(trade: KeyedTrade): Promise<Traded> {
    this.calls += 1;
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (!this.applied.has(trade.key)) this.applied.set(trade.key, trade);
    this.afterApply?.(trade);
    // The stock's version: how many trades of it the catalog has applied.
    return { version: [...this.applied.values()].filter((applied) => applied.name === trade.name).length };
  }

  async trades(from: number, limit: number): Promise<KeyedTrade[]> {
    this.reads.push(from);
    return [...this.applied.values()].slice(from, from + limit);
  }
}

export interface Node {
  replica: ReplicaNode;
  readonly log: MemoryOrderLog;
  readonly store: MemoryStateStore;
}

type Message = { kind: 'poll'; request: PollRequest } | { kind: 'append'; request: AppendRequest } | { kind: 'entries'; from: number; limit: number };

export class MemoryCluster {
  readonly nodes = new Map<number, Node>();
  readonly catalog = new RecordingCatalog();
  /** Replicas that are down: every message to or from them fails. */
  readonly down = new Set<number>();
  /** Return false to drop a message (the sender sees a failure). */
  filter: (from: number, to: number, message: Message) => boolean = () => true;
  /** Every append message delivered, for checks on batching. */
  readonly delivered: Array<{ from: number; to: number; request: AppendRequest }> = [];
  private frontendEpoch = 0;

  constructor(size: number) {
    for (let id = 1; id <= size; id += 1) {
      const log = new MemoryOrderLog();
      const store = new MemoryStateStore();
      this.nodes.set(id, { log, store, replica: this.makeReplica(id, log, store) });
    }
  }

  private makeReplica(id: number, log: MemoryOrderLog, store: MemoryStateStore): ReplicaNode {
    return new ReplicaNode({
      id,
      peers: [...Array(this.size()).keys()].map((index) => index + 1).filter((peer) => peer !== id),
      log,
      stateStore: store,
      state: store.state,
      catalog: this.catalog,
      transport: this.transport(id),
    });
  }

  private size(): number {
    return Math.max(this.nodes.size, ...this.nodes.keys(), 3);
  }

  node(id: number): Node {
    return this.nodes.get(id)!;
  }

  private async deliver<T>(from: number, to: number, message: Message, handle: (replica: ReplicaNode) => Promise<T> | T): Promise<T> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (this.down.has(from) || this.down.has(to) || !this.filter(from, to, message)) throw new Error(`replica ${to} is unreachable from ${from}`);
    const reply = await handle(this.node(to).replica);
    if (this.down.has(from) || this.down.has(to)) throw new Error(`replica ${to} went down before replying to ${from}`);
    return reply;
  }

  private transport(from: number): PeerTransport {
    return {
      poll: (to, request): Promise<PollReply> => this.deliver(from, to, { kind: 'poll', request }, (replica) => replica.handlePoll(request)),
      append: (to, request): Promise<AppendReply> =>
        this.deliver(from, to, { kind: 'append', request }, (replica) => {
          this.delivered.push({ from, to, request });
          return replica.handleAppend(request);
        }),
      entries: (to, start, limit): Promise<OrderEntry[]> => this.deliver(from, to, { kind: 'entries', from: start, limit }, (replica) => replica.entries(start, limit)),
    };
  }

  /** kill -9: the replica stops answering and stops acting; its log and state stay as they are. */
  crash(id: number): void {
    this.down.add(id);
    this.node(id).replica.close();
  }

  /** Starts the replica again from its log and durable state. */
  restart(id: number): void {
    const node = this.node(id);
    node.replica = this.makeReplica(id, node.log, node.store);
    this.down.delete(id);
  }

  /** What the frontend does: a new epoch, the followers told first, then the leader, which serves when it resolves. */
  async elect(leaderId: number): Promise<number> {
    this.frontendEpoch = Math.max(this.frontendEpoch, ...[...this.nodes.values()].map((node) => node.store.state.epoch)) + 1;
    const notice = { epoch: this.frontendEpoch, leaderId };
    await Promise.all(
      [...this.nodes.keys()]
        .filter((id) => id !== leaderId && !this.down.has(id))
        .map((id) => this.node(id).replica.handleLeaderNotice(notice).catch(() => undefined)),
    );
    await this.node(leaderId).replica.handleLeaderNotice(notice);
    return notice.epoch;
  }

  entries(id: number): OrderEntry[] {
    const log = this.node(id).log;
    return log.readRange(0, log.length);
  }

  /** Waits (bounded) until the condition holds. */
  async until(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
    await until(what, () => (condition() ? true : undefined), timeoutMs, 2);
  }

  close(): void {
    for (const node of this.nodes.values()) node.replica.close();
  }
}

export const trade = (key: string, quantity = 1, name = 'FishCo'): KeyedTrade => ({ key, name, type: 'buy', quantity });
