// The driver of one replica: it feeds the state machine (replica/machine.ts) its events — requests, ticks of a real
// clock, the outcomes of I/O — and carries out the actions the core returns through the ports: the
// order log, the state file, the peers, the catalog. All waiting happens here; all deciding there.
import { BazaarError } from '../core/errors.ts';
import { REPLICA_TICK_MS } from '../core/limits.ts';
import type { KeyedTrade, OrderEntry } from '../core/trade.ts';
import type { AppendReply, AppendRequest, LeaderNotice, PollReply, PollRequest, RecoverReply } from '../protocol/replication.ts';
import type { ReplicaStatus } from '../protocol/health.ts';
import { ReplicaMachine } from './replica/machine.ts';
import type { Action, Outcome, Placed, ReplyValue, Request } from './replica/messages.ts';
import type { ApplyReply, ApplyRequest, Approval, ApproveCall } from '../protocol/catalog.ts';
import type { OrderLog } from '../disk/log.ts';
import type { ReplicaState, StateStore } from '../disk/state.ts';
import type { PeerTransport } from './transport.ts';

/** What the replica needs from the catalog (catalog/state.ts says what each call means). */
export interface CatalogPort {
  /** Approves a trade before it is logged (a reservation); answered once no other frontend can serve the stock from before it. */
  approve(call: ApproveCall): Promise<Approval>;
  /** Applies committed entries; answers where the catalog stands. */
  apply(request: ApplyRequest): Promise<ApplyReply>;
}

export interface ReplicaOptions {
  readonly id: number;
  /** Every other replica's id. */
  readonly peers: readonly number[];
  readonly log: OrderLog;
  readonly stateStore: StateStore;
  readonly state: ReplicaState;
  readonly catalog: CatalogPort;
  readonly transport: PeerTransport;
  readonly onEvent?: (message: string) => void;
  /** Called when a write to the log or the state fails: the replica can no longer promise durability. */
  readonly onStorageFailure?: (error: Error) => void;
  /** Called with how long each stage of the write path took: `catalog` (the trade call), `log_append` (this log's write + fdatasync), `follower_append` (one replication message, there and back). */
  readonly onStage?: (stage: string, durationMs: number) => void;
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
}

export class ReplicaNode {
  readonly id: number;
  private readonly core: ReplicaMachine;
  private readonly options: ReplicaOptions;
  private readonly onEvent: (message: string) => void;
  private readonly pending = new Map<number, Pending>();
  private nextRequest = 1;
  private readonly clock: NodeJS.Timeout;
  private closed = false;

  constructor(options: ReplicaOptions) {
    this.id = options.id;
    this.options = options;
    this.onEvent = options.onEvent ?? (() => {});
    this.core = new ReplicaMachine({ id: options.id, peers: options.peers, log: options.log, state: options.state });
    this.clock = setInterval(() => {
      this.core.tick();
      this.flush();
    }, REPLICA_TICK_MS);
  }

  // ---- What the server calls -----------------------------------------------------------------------

  /**
   * Places an order once per idempotency key; resolves once it is on a majority with its number and
   * the stock's version after the trade. `origin` is the frontend it came through.
   */
  place(trade: KeyedTrade, origin?: string): Promise<Placed> {
    return this.request(origin === undefined ? { kind: 'place', trade } : { kind: 'place', trade, origin });
  }

  /** `place`, for callers that need only the number. */
  async placeOrder(trade: KeyedTrade): Promise<number> {
    return (await this.place(trade)).number;
  }

  /** For this replica's own id, runs the election and resolves once it serves; else joins the epoch. */
  handleLeaderNotice(notice: LeaderNotice): Promise<ReplicaStatus> {
    return this.request({ kind: 'notice', notice });
  }

  handlePoll(request: PollRequest): Promise<PollReply> {
    return this.request({ kind: 'poll', request });
  }

  handleAppend(request: AppendRequest): Promise<AppendReply> {
    return this.request({ kind: 'append', request });
  }

  /** A durable, acknowledged order; only the serving leader answers (else throws NOT_LEADER). */
  order(number: number): OrderEntry | undefined {
    return this.core.order(number);
  }

  entries(from: number, limit: number): OrderEntry[] {
    return this.core.entries(from, limit);
  }

  /** Where this replica stands, for a peer recovering from a lost disk. */
  recoverReply(): RecoverReply {
    return this.core.recoverReply();
  }

  rejoin(peer: number): void {
    this.core.rejoin(peer);
    this.flush();
  }

  status(): ReplicaStatus {
    return this.core.status();
  }

  /** Stops leading (waiters get 503) and stops acting. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.clock);
    this.core.close();
    this.flush();
    // As a crash would: whoever waits tries the next leader.
    for (const pending of this.pending.values()) pending.reject(new BazaarError('NOT_LEADER', `order replica ${this.id} is stopping; choose the leader again`));
    this.pending.clear();
  }

  // ---- Carrying out the core's actions -------------------------------------------------------------

  private request<K extends Request['kind']>(request: Extract<Request, { kind: K }>): Promise<ReplyValue[K]> {
    const id = this.nextRequest;
    this.nextRequest += 1;
    const promise = new Promise<ReplyValue[K]>((resolve, reject) => this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject }));
    this.core.request(id, request);
    this.flush();
    return promise;
  }

  private flush(): void {
    // The order does not matter: the core orders what depends on what through completions, and the
    // end of the turn writes messages before the disk (core/turn.ts).
    for (const action of this.core.takeActions()) this.carryOut(action);
  }


  private carryOut(action: Action): void {
    const { log, stateStore, transport, catalog } = this.options;
    switch (action.kind) {
      case 'persist':
        return this.await(action.op, this.storage(stateStore.save(action.state)));
      case 'append':
        return this.await(action.op, this.timed('log_append', this.storage(log.append(action.entries))));
      case 'truncate':
        return this.await(action.op, this.storage(log.truncate(action.length)));
      case 'send': {
        const { to, message } = action;
        if (message.kind === 'poll') return this.await(action.op, transport.poll(to, message.request));
        if (message.kind === 'append') return this.await(action.op, this.timed('follower_append', transport.append(to, message.request)));
        if (message.kind === 'recover') return this.await(action.op, transport.recover(to, message.request));
        if (message.kind === 'rejoin') return this.await(action.op, transport.rejoin(to, message.id));
        return this.await(action.op, transport.entries(to, message.from, message.limit));
      }
      case 'catalog':
        return this.await(action.op, action.call.kind === 'approve' ? this.timed('catalog', catalog.approve(action.call.call)) : catalog.apply(action.call.request));
      case 'reply': {
        const pending = this.pending.get(action.request);
        if (pending === undefined) return;
        this.pending.delete(action.request);
        if (action.outcome.ok) pending.resolve(action.outcome.value);
        else pending.reject(action.outcome.error);
        return;
      }
      case 'note':
        return this.onEvent(action.message);
      case 'fault':
        // The machine has answered every request it held and stopped; the role's policy stops the process.
        return this.options.onStorageFailure?.(action.error);
    }
  }

  /** Reports how long `work` took to the stage timings, when someone listens. */
  private timed<T>(stage: string, work: Promise<T>): Promise<T> {
    const onStage = this.options.onStage;
    if (onStage === undefined) return work;
    const startedAt = performance.now();
    return work.finally(() => onStage(stage, performance.now() - startedAt));
  }

  /** A failed write is reported to the storage failure policy, then to the core as the action's outcome. */
  private storage(write: Promise<void>): Promise<void> {
    return write.catch((error: unknown) => {
      if (error instanceof BazaarError && error.code === 'STORAGE_FAILED') this.options.onStorageFailure?.(error);
      throw error;
    });
  }

  private await(op: number, work: Promise<unknown>): void {
    work.then(
      (value) => this.complete(op, { ok: true, value }),
      (error: unknown) => this.complete(op, { ok: false, error: error instanceof Error ? error : new Error(String(error)) }),
    );
  }

  private complete(op: number, outcome: Outcome<unknown>): void {
    if (this.closed) return;
    this.core.complete(op, outcome);
    this.flush();
  }
}
