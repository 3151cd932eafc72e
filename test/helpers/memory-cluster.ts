// Replicas wired by an in-memory network, for unit tests of the replication logic: no sockets, no
// disk, and faults (a replica down, a link dropping messages) set by the test.
import type { KeyedTrade, OrderEntry } from '../../src/core/trade.ts';
import { MemoryOrderLog } from '../../src/disk/log.ts';
import { type Checkpoint, CatalogState } from '../../src/catalog/state.ts';
import type { ApplyReply, ApplyRequest, Approval, ApproveCall } from '../../src/protocol/catalog.ts';
import { type CatalogPort, ReplicaNode } from '../../src/order/node.ts';
import type { PeerTransport } from '../../src/order/transport.ts';
import type { AppendReply, AppendRequest, PollReply, PollRequest } from '../../src/protocol/replication.ts';
import type { PeerMessage } from '../../src/order/replica/messages.ts';
import { MemoryStateStore } from '../../src/disk/state.ts';
import { until } from '../../harness/wait.ts';

/**
 * The catalog's real state machine (catalog/state.ts) behind the port, in memory: it approves and
 * applies as the real one does, restarts as a new incarnation (`crash`), and can lose its checkpoint.
 */
export class MemoryCatalog implements CatalogPort {
  state: CatalogState;
  /** The checkpoint it would restart from: the state when `checkpoint()` was last called. */
  private saved: Checkpoint | undefined;
  private lives = 1;
  approvals = 0;
  /** Runs after a trade is approved and before the call returns: a crash "right after the approval". */
  afterApprove: ((trade: KeyedTrade) => void) | undefined;
  /** Down: every call fails. */
  down = false;

  constructor() {
    this.state = new CatalogState(MEMORY_STOCKS, 'life-1');
  }

  async approve(call: ApproveCall): Promise<Approval> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (this.down) throw new Error('the catalog is down');
    const approval = this.state.approve(call);
    if (approval.status === 'approved') {
      this.approvals += 1;
      this.afterApprove?.(call.trade);
    }
    return approval;
  }

  async apply(request: ApplyRequest): Promise<ApplyReply> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (this.down) throw new Error('the catalog is down');
    return this.state.apply(request);
  }

  checkpoint(): void {
    this.saved = this.state.checkpoint();
  }

  /** kill -9 and a restart: a new incarnation from the last checkpoint (or from nothing, with `lostDisk`). */
  restart(lostDisk = false): void {
    this.lives += 1;
    if (lostDisk) this.saved = undefined;
    this.state = new CatalogState(MEMORY_STOCKS, `life-${this.lives}`, this.saved);
  }

  quantity(name = 'FishCo'): number {
    return this.state.lookup(name)!.stock.quantity;
  }
}

export const MEMORY_STOCKS = [
  { name: 'FishCo', price: 1, quantity: 1_000_000 },
  { name: 'Scarce', price: 1, quantity: 5 },
];

export interface Node {
  replica: ReplicaNode;
  readonly log: MemoryOrderLog;
  readonly store: MemoryStateStore;
}

type Message = PeerMessage;

export class MemoryCluster {
  readonly nodes = new Map<number, Node>();
  readonly catalog = new MemoryCatalog();
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
      recover: (to, request) => this.deliver(from, to, { kind: 'recover', request }, (replica) => replica.recoverReply()),
      rejoin: (to, id) => this.deliver(from, to, { kind: 'rejoin', id }, (replica) => replica.rejoin(id)),
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
