// A deterministic world for the replica core: N cores on an in-memory network that drops, delays,
// duplicates and reorders messages and partitions replicas; disks that complete writes one at a
// time and lose what is not yet written when their replica crashes; a catalog that applies each key
// once; frontends running the real leader choice (src/frontend/choice.ts), each pinging, noticing
// and failing over as the real one does; and a rogue frontend that stands any replica for a new
// epoch at random, as a frontend with stale information could.
// Every choice comes from one seeded generator, so a seed replays exactly. After every step the
// world checks the safety properties; `settle()` then checks that the cluster converges.
import assert from 'node:assert/strict';
import type { KeyedTrade, OrderEntry } from '../../src/core/trade.ts';
import { REPLICA_TICK_MS } from '../../src/core/limits.ts';
import { LeaderChoice } from '../../src/frontend/choice.ts';
import { ReplicaMachine } from '../../src/order/replica/machine.ts';
import type { Action, Outcome, PeerMessage, ReplyValue, Request } from '../../src/order/replica/messages.ts';
import type { StockSeed } from '../../src/core/config.ts';
import { SimCatalog } from './sim-catalog.ts';
import { MemoryOrderLog } from '../../src/disk/log.ts';
import { INITIAL_STATE, type ReplicaState, recoveringState } from '../../src/disk/state.ts';
import { majorityOf } from '../../src/core/quorum.ts';

/** mulberry32: small, fast, good enough to pick among a handful of choices. */
export class Rng {
  private seed: number;
  constructor(seed: number) {
    this.seed = seed >>> 0;
  }
  next(): number {
    this.seed = (this.seed + 0x6d2b79f5) >>> 0;
    let t = this.seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
}

interface SimNode {
  readonly id: number;
  core: ReplicaMachine | undefined;
  /** Bumped at every restart: completions meant for an earlier life are dropped. */
  life: number;
  /** Replaced whole when its disk is lost. */
  log: MemoryOrderLog;
  /** The state as it is on disk. */
  state: ReplicaState;
  /** Writes not yet on disk, each file in order: the log's appends and truncates, the state file's saves. */
  logQueue: Array<{ op: number; action: Extract<Action, { kind: 'append' | 'truncate' }> }>;
  stateQueue: Array<{ op: number; state: ReplicaState }>;
  /**
   * Writes already on disk whose completion the core has not heard yet, in order: a real log shows
   * a write as durable a moment before its promise settles, and the core must cope with that.
   */
  completions: number[];
}

type Packet =
  | { readonly type: 'request'; readonly from: number; readonly life: number; readonly to: number; readonly toLife: number; readonly op: number; readonly message: PeerMessage }
  | { readonly type: 'response'; readonly to: number; readonly life: number; readonly op: number; readonly outcome: Outcome<unknown> }
  | { readonly type: 'frontend'; readonly to: number; readonly request: Request; readonly ticket: number }
  | { readonly type: 'ping'; readonly frontend: number; readonly to: number };

/** What a frontend's request to a replica was; `frontend` is the chooser's index, undefined for the rogue. */
type Ticket =
  | { readonly kind: 'place'; readonly key: string; readonly frontend: number | undefined; readonly to: number }
  | { readonly kind: 'notice'; readonly frontend: number | undefined; readonly to: number; readonly epoch: number };

export interface WorldOptions {
  readonly replicas: number;
  readonly batchEntries: number;
  /** Per-delivery chance a message is lost (the sender sees a failure). */
  readonly dropRate: number;
  readonly duplicateRate: number;
  /** Frontends running the real leader choice. */
  readonly frontends?: number;
  /** The catalog's stocks (default: small limits, sim-catalog.ts). */
  readonly stocks?: readonly StockSeed[];
  /** Whether the rogue frontend stands random replicas for new epochs (default true). */
  readonly rogue?: boolean;
  /** Whether replicas lose or damage their disks (default true): at most a minority at a time, as the failure model allows. */
  readonly diskFaults?: boolean;
}

export class World {
  readonly rng: Rng;
  readonly nodes: SimNode[] = [];
  private readonly options: WorldOptions;
  private readonly majority: number;
  private packets: Packet[] = [];
  /** The catalog: the real state machine, with lives and a disk (sim-catalog.ts). */
  readonly catalog: SimCatalog;
  /** What the catalog check last looked at (it runs again only when that changed). */
  private catalogSeen = '';
  /** Every trade sent, by key (a late retry sends the same). */
  private readonly sent = new Map<string, KeyedTrade>();
  /** Acknowledged orders: key -> number, and number -> key; and the epoch of the leader that acknowledged each first. */
  readonly acked = new Map<string, number>();
  private readonly ackedIn = new Map<string, number>();
  private ackedChecked = 0;
  private readonly ackedNumbers = new Map<number, string>();
  /** The rogue frontend: the replica it sends trades to, and the highest epoch it has used. */
  private leader: number | undefined;
  private epoch = 0;
  /** The frontends that run the real leader choice, on the world's clock (ms). */
  readonly choosers: LeaderChoice[] = [];
  private time = 0;
  /** Disk faults so far (each one recovered by the end of `settle`). */
  diskFaults = 0;
  /** Leader failures so far (crashes of a replica that led or stood for the newest epoch), for the one-election-per-failure check. */
  leaderFailures = 0;
  private readonly tickets = new Map<number, Ticket>();
  /** Requests from one replica that another's core is working on, by the ticket its reply will carry. */
  private readonly peerRequests = new Map<number, Extract<Packet, { type: 'request' }>>();
  private nextTicket = 1;
  private nextKey = 0;
  /** Keys the frontend has sent and not had acknowledged: it retries them. */
  private readonly unacked: KeyedTrade[] = [];
  /** Partition: replicas in the set hear only each other. */
  private island = new Set<number>();
  /** Who served each epoch. */
  private readonly servedBy = new Map<number, number>();
  /** A log changed since the last check of the properties that only a change of a log can break. */
  private logsChanged = true;
  /** A trace of the last steps, printed with a failure. */
  readonly trace: string[] = [];
  step = 0;

  constructor(seed: number, options: WorldOptions) {
    this.rng = new Rng(seed);
    this.options = options;
    this.catalog = new SimCatalog((text) => this.say(text), options.stocks);
    this.majority = majorityOf(options.replicas);
    for (let id = 1; id <= options.replicas; id += 1) {
      const node: SimNode = { id, core: undefined, life: 0, log: new MemoryOrderLog(), state: INITIAL_STATE, logQueue: [], stateQueue: [], completions: [] };
      this.nodes.push(node);
      this.boot(node);
    }
    for (let index = 0; index < (options.frontends ?? 0); index += 1) this.choosers.push(new LeaderChoice(this.nodes.map((node) => node.id)));
  }

  /** Every chooser frontend picks a leader, as each does when it starts. */
  chooseAtStart(): void {
    for (const index of this.choosers.keys()) this.want(index);
  }

  private want(index: number): void {
    this.choosers[index]!.want(this.time);
    this.drainChooser(index);
  }

  /** Carries a chooser's actions into the network. */
  private drainChooser(index: number): void {
    const choice = this.choosers[index]!;
    for (const action of choice.takeActions()) {
      switch (action.kind) {
        case 'ping':
          this.packets.push({ type: 'ping', frontend: index, to: action.id });
          break;
        case 'notice': {
          const ticket = this.nextTicket++;
          this.tickets.set(ticket, { kind: 'notice', frontend: index, to: action.id, epoch: action.epoch });
          this.packets.push({ type: 'frontend', to: action.id, request: { kind: 'notice', notice: { epoch: action.epoch, leaderId: action.leaderId } }, ticket });
          this.say(`frontend ${index}: notice to ${action.id}: epoch ${action.epoch}, leader ${action.leaderId}`);
          break;
        }
        case 'chosen':
          this.say(`frontend ${index}: chose ${action.id} (epoch ${action.epoch})`);
          break;
        case 'failed':
          this.say(`frontend ${index}: no leader (${action.error.message})`);
          break;
        case 'note':
          this.say(`frontend ${index}: ${action.message}`);
          break;
      }
    }
  }

  /** A frontend's request to a replica failed or was refused. */
  private frontendFailed(sent: Ticket, error: { code: string | undefined; message: string }): void {
    if (sent.frontend === undefined) return;
    const choice = this.choosers[sent.frontend]!;
    if (sent.kind === 'notice') {
      choice.noticed(sent.to, sent.epoch, { ok: false, code: error.code, message: error.message }, this.time);
    } else if (error.code === undefined || error.code === 'NOT_LEADER' || error.code === 'SHUTTING_DOWN') {
      // As the failover does: gone or hung (no answer at all) is suspect; "not the leader" is not.
      choice.forget(sent.to, error.code === undefined, this.time);
      choice.want(this.time);
    }
    this.drainChooser(sent.frontend);
  }

  say(text: string): void {
    this.trace.push(`${this.step}: ${text}`);
    if (this.trace.length > 60) this.trace.shift();
  }

  private node(id: number): SimNode {
    return this.nodes[id - 1]!;
  }

  private boot(node: SimNode): void {
    node.life += 1;
    node.core = new ReplicaMachine({
      id: node.id,
      peers: this.peersOf(node.id),
      log: node.log,
      state: node.state,
      batchEntries: this.options.batchEntries,
    });
  }

  private peersOf(id: number): number[] {
    return Array.from({ length: this.options.replicas }, (_, index) => index + 1).filter((peer) => peer !== id);
  }

  private reachable(a: number, b: number): boolean {
    return this.island.has(a) === this.island.has(b);
  }

  /** Carries the core's actions into the world's queues. */
  private drain(node: SimNode): void {
    const core = node.core;
    if (core === undefined) return;
    for (const action of core.takeActions()) {
      switch (action.kind) {
        case 'persist':
          node.stateQueue.push({ op: action.op, state: action.state });
          break;
        case 'append':
        case 'truncate':
          node.logQueue.push({ op: action.op, action });
          break;
        case 'send':
          // As over TCP: a request reaches the life of the receiver it was sent to, or fails.
          this.packets.push({ type: 'request', from: node.id, life: node.life, to: action.to, toLife: this.node(action.to).life, op: action.op, message: action.message });
          break;
        case 'catalog':
          this.catalog.call(node.id, node.life, action.op, action.call);
          break;
        case 'reply':
          this.replied(node, action.request, action.outcome);
          break;
        case 'note':
          this.say(`  ${node.id}: ${action.message}`);
          break;
        case 'fault':
          assert.fail(`replica ${node.id} could not read its log: ${action.error.message}`);
      }
    }
  }

  private replied(node: SimNode, ticket: number, outcome: Outcome<unknown>): void {
    const peerRequest = this.peerRequests.get(ticket);
    if (peerRequest !== undefined) {
      this.peerRequests.delete(ticket);
      this.respond(peerRequest, outcome);
      return;
    }
    const sent = this.tickets.get(ticket);
    if (sent === undefined) return;
    this.tickets.delete(ticket);
    if (sent.kind === 'notice') {
      this.say(`  ${node.id}: notice ${outcome.ok ? 'ok' : `failed (${outcome.error.message})`}`);
      if (outcome.ok && sent.frontend !== undefined) {
        this.choosers[sent.frontend]!.noticed(sent.to, sent.epoch, { ok: true }, this.time);
        this.drainChooser(sent.frontend);
      } else if (!outcome.ok) {
        this.frontendFailed(sent, { code: (outcome.error as { code?: string }).code, message: outcome.error.message });
      }
      return;
    }
    const key = sent.key;
    if (!outcome.ok) {
      this.say(`  ${node.id}: trade ${key} failed: ${outcome.error.message}`);
      const code = (outcome.error as { code?: string }).code;
      if (code === 'INSUFFICIENT_QUANTITY' || code === 'IDEMPOTENCY_KEY_REUSED') {
        assert.ok(!this.acked.has(key), `key ${key} was acknowledged as order ${this.acked.get(key)}, and a retry got ${code}`);
        const index = this.unacked.findIndex((trade) => trade.key === key);
        if (index !== -1) this.unacked.splice(index, 1);
      }
      this.frontendFailed(sent, { code: (outcome.error as { code?: string }).code ?? 'UNKNOWN', message: outcome.error.message });
      return;
    }
    const { number, version } = outcome.value as ReplyValue['place'];
    assert.equal(version, number + 1, 'a stock\'s version after an order is the order\'s number + 1');
    this.say(`  ${node.id}: trade ${key} acknowledged as order ${number}`);
    const before = this.acked.get(key);
    assert.ok(before === undefined || before === number, `key ${key} was acknowledged as order ${before}, now as ${number} (G2)`);
    const holder = this.ackedNumbers.get(number);
    assert.ok(holder === undefined || holder === key, `order ${number} was acknowledged for key ${holder}, now for ${key}`);
    assert.equal(node.log.read(number)?.key, key, `the leader acknowledged order ${number} before it was durable in its own log`);
    this.acked.set(key, number);
    this.ackedNumbers.set(number, key);
    if (!this.ackedIn.has(key)) this.ackedIn.set(key, node.core!.status().epoch);
    const index = this.unacked.findIndex((trade) => trade.key === key);
    if (index !== -1) this.unacked.splice(index, 1);
  }

  private deliverToCore(node: SimNode, work: (core: ReplicaMachine) => void): void {
    if (node.core === undefined) return;
    work(node.core);
    this.drain(node);
  }

  // ---- The steps ---------------------------------------------------------------------------------

  /** One random step of the world. */
  randomStep(faults: boolean): void {
    this.step += 1;
    const roll = this.rng.next();
    if (roll < 0.4) this.deliverPacket(faults);
    else if (roll < 0.58) this.completeWrite();
    else if (roll < 0.66) this.completeCatalogCall(faults);
    else if (roll < 0.78) this.tick();
    else if (roll < 0.88) this.sendTrade();
    else if (roll < 0.9 && this.options.rogue !== false) this.elect();
    else if (roll < 0.92 && faults) this.crash();
    else if (roll < 0.95 && faults) this.restart();
    else if (roll < 0.96 && faults) this.partition();
    else if (roll < 0.97) this.rejoin();
    else if (roll < 0.98 && faults) this.catalogFault();
    else if (roll < 0.985 && faults && this.options.diskFaults !== false) this.diskFault();
    else if (!this.catalog.up) this.catalog.restart();
    else this.tick();
    this.check();
  }

  private deliverPacket(faults: boolean): void {
    if (this.packets.length === 0) return;
    const index = this.rng.int(this.packets.length);
    const packet = this.packets[index]!;
    const duplicate = faults && packet.type === 'request' && this.rng.chance(this.options.duplicateRate);
    if (!duplicate) this.packets.splice(index, 1);
    if (packet.type === 'ping') {
      const node = this.node(packet.to);
      const status = node.core === undefined || (faults && this.rng.chance(this.options.dropRate)) ? undefined : node.core.status();
      this.say(`frontend ${packet.frontend} pings ${packet.to}: ${status === undefined ? 'no answer' : `${status.replicationRole} of epoch ${status.epoch}${status.serving ? ', serving' : ''}`}`);
      this.choosers[packet.frontend]!.pinged(packet.to, status === undefined ? undefined : { epoch: status.epoch, leaderId: status.leaderId, state: status.replicationRole, serving: status.serving }, this.time);
      this.drainChooser(packet.frontend);
      return;
    }
    if (packet.type === 'frontend') {
      const node = this.node(packet.to);
      if (node.core === undefined || (faults && this.rng.chance(this.options.dropRate))) {
        const sent = this.tickets.get(packet.ticket);
        this.tickets.delete(packet.ticket);
        this.say(`frontend -> ${packet.to}: ${packet.request.kind} lost`);
        // The caller's connection failed or timed out: no answer at all.
        if (sent !== undefined) this.frontendFailed(sent, { code: undefined, message: `replica ${packet.to} did not answer` });
        return;
      }
      this.say(`frontend -> ${packet.to}: ${packet.request.kind} ${JSON.stringify(packet.request.kind === 'place' ? packet.request.trade.key : (packet.request as { notice?: unknown }).notice)}`);
      this.deliverToCore(node, (core) => core.request(packet.ticket, packet.request));
      return;
    }
    if (packet.type === 'response') {
      const node = this.node(packet.to);
      if (node.life !== packet.life) return;
      this.deliverToCore(node, (core) => core.complete(packet.op, packet.outcome));
      return;
    }
    const to = this.node(packet.to);
    const lost = to.core === undefined || to.life !== packet.toLife || !this.reachable(packet.from, packet.to) || (faults && this.rng.chance(this.options.dropRate));
    if (lost) {
      this.say(`${packet.from} -> ${packet.to}: ${packet.message.kind} lost`);
      this.respond(packet, { ok: false, error: new Error(`replica ${packet.to} is unreachable`) });
      return;
    }
    this.say(`${packet.from} -> ${packet.to}: ${describe(packet.message)}${duplicate ? ' (duplicated)' : ''}`);
    if (packet.message.kind === 'entries') {
      this.respond(packet, { ok: true, value: to.core!.entries(packet.message.from, packet.message.limit) });
      return;
    }
    if (packet.message.kind === 'recover') {
      this.respond(packet, { ok: true, value: to.core!.recoverReply() });
      return;
    }
    if (packet.message.kind === 'rejoin') {
      const peer = packet.message.id;
      this.deliverToCore(to, (core) => core.rejoin(peer));
      this.respond(packet, { ok: true, value: { ok: true } });
      return;
    }
    // The reply goes back when the receiver's core replies with this ticket.
    const ticket = this.nextTicket++;
    this.peerRequests.set(ticket, packet);
    const request: Request = packet.message.kind === 'poll' ? { kind: 'poll', request: packet.message.request } : { kind: 'append', request: packet.message.request };
    this.deliverToCore(to, (core) => core.request(ticket, request));
  }

  private respond(packet: Extract<Packet, { type: 'request' }>, outcome: Outcome<unknown>): void {
    this.packets.push({ type: 'response', to: packet.from, life: packet.life, op: packet.op, outcome });
  }

  private completeWrite(): void {
    const busy = this.nodes.filter((node) => node.core !== undefined && (node.logQueue.length > 0 || node.stateQueue.length > 0 || node.completions.length > 0));
    if (busy.length === 0) return;
    const node = this.rng.pick(busy);
    // Either a write reaches the disk, or the oldest write on disk completes at the core.
    if (node.completions.length > 0 && (this.rng.chance(0.5) || (node.logQueue.length === 0 && node.stateQueue.length === 0))) {
      const op = node.completions.shift()!;
      this.deliverToCore(node, (core) => core.complete(op, { ok: true, value: undefined }));
      return;
    }
    const useLog = node.logQueue.length > 0 && (node.stateQueue.length === 0 || this.rng.chance(0.5));
    if (useLog) {
      const { op, action } = node.logQueue.shift()!;
      if (action.kind === 'append') {
        assert.equal(action.entries[0]?.number, node.log.length, `replica ${node.id} appends where its log ends`);
        node.log.appendNow(action.entries);
        this.logsChanged = true;
        this.say(`${node.id}: disk appended ${action.entries.map((entry) => `${entry.number}:${entry.key}@${entry.epoch}`).join(' ')}`);
      } else {
        node.log.truncateNow(action.length);
        this.logsChanged = true;
        this.say(`${node.id}: disk truncated to ${action.length}`);
      }
      node.completions.push(op);
    } else {
      const { op, state } = node.stateQueue.shift()!;
      node.state = state;
      this.say(`${node.id}: disk saved ${JSON.stringify(state)}`);
      node.completions.push(op);
    }
  }

  private completeCatalogCall(faults: boolean): void {
    if (this.rng.chance(0.5)) return this.catalog.takeCall(this.rng, faults);
    const answer = this.catalog.takeAnswer(this.rng, faults);
    if (answer === undefined) return;
    const node = this.node(answer.node);
    if (node.life !== answer.nodeLife) return;
    this.deliverToCore(node, (core) => core.complete(answer.op, answer.outcome));
  }

  /** Catalog faults: a crash (what it applied since its checkpoint is lost), a lost disk, a restart, a checkpoint written. */
  private catalogFault(): void {
    const roll = this.rng.next();
    if (roll < 0.6) this.catalog.saveCheckpoint();
    else if (roll < 0.88) this.catalog.crash(false);
    else this.catalog.crash(true);
  }

  private tick(): void {
    this.time += REPLICA_TICK_MS;
    for (const node of this.nodes) this.deliverToCore(node, (core) => core.tick());
    for (const [index, choice] of this.choosers.entries()) {
      choice.tick(this.time);
      this.drainChooser(index);
    }
  }

  private sendTrade(): void {
    // Through a chooser frontend (which chooses first if it has no leader), or the rogue.
    const via = this.choosers.length > 0 && (this.leader === undefined || this.rng.chance(0.7)) ? this.rng.int(this.choosers.length) : undefined;
    const to = via === undefined ? this.leader : this.choosers[via]!.leader;
    if (to === undefined) {
      if (via !== undefined) this.want(via);
      return;
    }
    let trade: KeyedTrade;
    if (this.unacked.length > 0 && this.rng.chance(0.4)) {
      trade = this.rng.pick(this.unacked);
    } else if (this.acked.size > 0 && this.rng.chance(0.05)) {
      // A late retry of a key already acknowledged: it must get the same number.
      trade = this.sent.get(this.rng.pick([...this.acked.keys()]))!;
    } else {
      // Several stocks with small limits: buys are refused when they would take more than there is.
      this.nextKey += 1;
      const stock = this.rng.pick(this.catalog.stocks);
      trade = { key: `k${this.nextKey}`, name: stock.name, type: this.rng.chance(0.6) ? 'buy' : 'sell', quantity: 1 + this.rng.int(3) };
      this.sent.set(trade.key, trade);
      this.unacked.push(trade);
    }
    const ticket = this.nextTicket++;
    this.tickets.set(ticket, { kind: 'place', key: trade.key, frontend: via, to });
    this.packets.push({ type: 'frontend', to, request: { kind: 'place', trade }, ticket });
  }

  /** What the frontend does: a new epoch above any it has seen, notices to every live replica. */
  elect(leaderId?: number): void {
    const live = this.nodes.filter((node) => node.core !== undefined);
    if (live.length === 0) return;
    const leader = leaderId ?? this.rng.pick(live).id;
    this.epoch = Math.max(this.epoch, ...live.map((node) => node.core!.status().epoch)) + 1;
    this.leader = leader;
    this.say(`frontend: epoch ${this.epoch}, leader ${leader}`);
    for (const node of live) {
      const ticket = this.nextTicket++;
      this.tickets.set(ticket, { kind: 'notice', frontend: undefined, to: node.id, epoch: this.epoch });
      this.packets.push({ type: 'frontend', to: node.id, request: { kind: 'notice', notice: { epoch: this.epoch, leaderId: leader } }, ticket });
    }
  }

  private crash(): void {
    const live = this.nodes.filter((node) => node.core !== undefined);
    if (live.length === 0) return;
    this.crashNode(this.rng.pick(live));
  }

  /** Crashes the serving leader, if every replica is up and one serves; whether it did. */
  crashLeader(): boolean {
    if (this.nodes.some((node) => node.core === undefined)) return false;
    const leader = this.nodes.find((node) => node.core!.status().serving);
    if (leader === undefined) return false;
    this.crashNode(leader);
    return true;
  }

  /** Restarts every crashed replica. */
  restartAll(): void {
    for (const node of this.nodes) {
      if (node.core !== undefined) continue;
      this.boot(node);
      this.say(`RESTART ${node.id}`);
    }
  }

  /** Whether some replica serves as leader. */
  serving(): boolean {
    return this.nodes.some((node) => node.core?.status().serving === true);
  }

  /** The highest epoch any replica has joined (on disk). */
  maxEpoch(): number {
    return Math.max(...this.nodes.map((node) => node.state.epoch));
  }

  private crashNode(node: SimNode): void {
    const role = node.core?.status().replicationRole;
    if (role === 'leader' || role === 'candidate') this.leaderFailures += 1;
    node.core = undefined;
    node.logQueue = [];
    node.stateQueue = [];
    node.completions = [];
    // Requests it was working on time out at their senders.
    for (const [ticket, packet] of this.peerRequests) {
      if (packet.to !== node.id) continue;
      this.peerRequests.delete(ticket);
      this.respond(packet, { ok: false, error: new Error(`replica ${node.id} did not answer`) });
    }
    this.say(`CRASH ${node.id} (log ${node.log.length}, state ${JSON.stringify(node.state)})`);
    // Frontends' requests it had taken in and not answered: their connections drop.
    for (const [ticket, sent] of this.tickets) {
      if (sent.to !== node.id || this.packets.some((packet) => packet.type === 'frontend' && packet.ticket === ticket)) continue;
      this.tickets.delete(ticket);
      this.frontendFailed(sent, { code: undefined, message: `replica ${node.id} closed the connection` });
    }
  }

  private restart(): void {
    const down = this.nodes.filter((node) => node.core === undefined);
    if (down.length === 0) return;
    const node = this.rng.pick(down);
    this.boot(node);
    this.say(`RESTART ${node.id} (log ${node.log.length}, state ${JSON.stringify(node.state)})`);
  }

  /** Replicas that lost or damaged their disk and have not recovered (their state on disk says so). */
  private recovering(): SimNode[] {
    return this.nodes.filter((node) => node.state.recovering);
  }

  /**
   * A replica's disk fails: lost whole, its log lost, its state lost, or a damaged entry (the driver
   * cuts the log at the first damaged line). The replica crashes with it and starts recovering, as
   * src/disk/ makes a real one. Only while fewer than a minority's worth are recovering: more
   * is beyond the failure model (the service then stops, and the check would rightly fail).
   */
  private diskFault(): void {
    if (this.recovering().length >= this.options.replicas - this.majority) return;
    const node = this.rng.pick(this.nodes);
    if (node.core !== undefined) this.crashNode(node);
    const kind = this.rng.pick(['disk', 'log', 'state', 'damaged'] as const);
    this.diskFaults += 1;
    const remembered = kind === 'log' || kind === 'damaged' ? node.state : undefined;
    if (kind === 'disk' || kind === 'log') node.log = new MemoryOrderLog();
    if (kind === 'damaged' && node.log.length > 0) node.log.truncateNow(this.rng.int(node.log.length));
    node.state = recoveringState(remembered);
    this.logsChanged = true;
    this.say(`DISK ${node.id}: ${kind === 'disk' ? 'whole disk lost' : kind === 'log' ? 'log lost' : kind === 'state' ? 'state lost' : 'damaged entry; log cut there'} (log now ${node.log.length}, state ${JSON.stringify(node.state)})`);
    if (this.rng.chance(0.5)) {
      this.boot(node);
      this.say(`RESTART ${node.id} (recovering)`);
    }
  }

  private partition(): void {
    if (this.island.size > 0 || this.rng.chance(0.3)) {
      this.island = new Set();
      this.say('partition healed');
      return;
    }
    const size = 1 + this.rng.int(Math.floor(this.options.replicas / 2));
    const ids = this.nodes.map((node) => node.id);
    this.island = new Set(Array.from({ length: size }, () => this.rng.pick(ids)));
    this.say(`partition: {${[...this.island].join(',')}} apart`);
  }

  private rejoin(): void {
    const leader = this.leader === undefined ? undefined : this.node(this.leader);
    if (leader?.core === undefined) return;
    const peer = this.rng.pick(this.peersOf(leader.id));
    this.deliverToCore(leader, (core) => core.rejoin(peer));
  }

  // ---- The properties ----------------------------------------------------------------------------

  /** Safety, after every step. */
  check(): void {
    this.catalog.check();
    // G5 and G8 at the catalog: once it serves, every acknowledged order is applied there, or is
    // reserved there (a lookup of its stock waits for it); nothing uncommitted is applied.
    const { state } = this.catalog;
    const seen = `${this.catalog.life}/${state.applied}/${state.reservations.size}/${this.acked.size}/${state.ready}`;
    if (seen !== this.catalogSeen && this.catalog.up && state.ready) {
      this.catalogSeen = seen;
      for (const [key, number] of this.acked) {
        assert.ok(state.applied > number || state.reservations.has(key), `the serving catalog (life ${this.catalog.life}) neither applied nor holds acknowledged order ${number} (${key})`);
      }
    }
    // Every acknowledged order is durable, unchanged, on a majority of replicas (crashed ones count:
    // they keep their disk), less the replicas still recovering a lost disk: a lost disk takes its
    // copy, and a recovering replica must copy it back before it counts. Checked when an
    // acknowledgement or a log changed.
    if (this.logsChanged || this.ackedChecked !== this.acked.size) {
      const recovering = this.recovering().length;
      for (const [key, number] of this.acked) {
        const holders = this.nodes.filter((node) => !node.state.recovering && node.log.read(number)?.key === key).length;
        assert.ok(holders >= this.majority - recovering, `acknowledged order ${number} (${key}) is on only ${holders} replicas that count (${recovering} recovering)`);
      }
      this.ackedChecked = this.acked.size;
    }
    // At most one serving leader per epoch; a serving leader holds every order acknowledged in its
    // epoch or before (a stale leader of an older epoch may still think it serves, but acknowledges
    // nothing new: a majority has moved on).
    for (const node of this.nodes) {
      const status = node.core?.status();
      if (status === undefined || !status.serving) continue;
      const before = this.servedBy.get(status.epoch);
      assert.ok(before === undefined || before === node.id, `replicas ${before} and ${node.id} both serve epoch ${status.epoch}`);
      this.servedBy.set(status.epoch, node.id);
      for (const [key, number] of this.acked) {
        if (this.ackedIn.get(key)! <= status.epoch) assert.equal(node.log.read(number)?.key, key, `serving leader ${node.id} of epoch ${status.epoch} lacks acknowledged order ${number}`);
      }
    }
    // Log matching: where two logs hold the same entry, they agree on everything before it.
    if (!this.logsChanged) return;
    this.logsChanged = false;
    for (let a = 0; a < this.nodes.length; a += 1) {
      for (let b = a + 1; b < this.nodes.length; b += 1) {
        const x = this.nodes[a]!.log;
        const y = this.nodes[b]!.log;
        let last = Math.min(x.length, y.length) - 1;
        while (last >= 0 && !same(x.read(last), y.read(last))) last -= 1;
        for (let n = 0; n < last; n += 1) assert.ok(same(x.read(n), y.read(n)), `replicas ${a + 1} and ${b + 1} agree at ${last} but not at ${n}`);
      }
    }
  }

  /** Faults stop, everyone is back, a leader is chosen; then the cluster must converge (G3) and conserve (G4). */
  settle(maxSteps: number): void {
    this.island = new Set();
    if (!this.catalog.up) this.catalog.restart();
    for (const node of this.nodes) if (node.core === undefined) {
      this.boot(node);
      this.say(`RESTART ${node.id} to settle`);
    }
    let electedAt = -Infinity;
    for (let steps = 0; steps < maxSteps; steps += 1) {
      this.step += 1;
      const serving = this.nodes.find((node) => node.core?.status().serving === true && node.id === this.leader);
      if (serving === undefined && steps - electedAt > 400) {
        const sound = this.nodes.filter((node) => !node.state.recovering);
        this.elect(this.rng.pick(sound.length > 0 ? sound : this.nodes).id);
        electedAt = steps;
      }
      if (serving !== undefined && this.converged(serving)) return;
      const roll = this.rng.next();
      if (roll < 0.5) this.deliverPacket(false);
      else if (roll < 0.75) this.completeWrite();
      else if (roll < 0.87) this.completeCatalogCall(false);
      else if (roll < 0.95) this.tick();
      else if (this.unacked.length > 0) this.sendTrade();
      else this.tick();
      this.check();
    }
    assert.fail(`the cluster did not converge within ${maxSteps} steps after faults stopped: logs ${this.nodes.map((node) => node.log.length).join(', ')}, catalog ${this.catalog.state.applied}`);
  }

  private converged(leader: SimNode): boolean {
    const length = leader.log.length;
    if (this.catalog.state.applied !== length || !this.catalog.state.ready) return false;
    if (this.nodes.some((node) => node.log.length !== length || node.logQueue.length > 0 || node.completions.length > 0 || node.state.recovering)) return false;
    // Equal lengths and an equal last entry: with log matching (checked after every change), equal logs.
    const last = leader.log.read(length - 1);
    if (length > 0 && !this.nodes.every((node) => same(node.log.read(length - 1), last))) return false;
    // G4: the catalog is the initial stock list plus the committed log.
    this.catalog.assertEquals(leader.log.readRange(0, length));
    return true;
  }
}

function same(a: OrderEntry | undefined, b: OrderEntry | undefined): boolean {
  return a !== undefined && b !== undefined && a.number === b.number && a.epoch === b.epoch && a.key === b.key;
}

function describe(message: PeerMessage): string {
  if (message.kind === 'poll') return `poll epoch ${message.request.epoch}`;
  if (message.kind === 'entries') return `entries from ${message.from} (${message.limit})`;
  if (message.kind === 'recover') return 'recover: where does the cluster stand?';
  if (message.kind === 'rejoin') return `rejoin ${message.id}`;
  const request = message.request;
  return `append epoch ${request.epoch} from ${request.from} [${request.entries.map((entry) => entry.key).join(' ')}]`;
}
