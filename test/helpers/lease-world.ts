// A deterministic world for the cache leases (G5 across frontends): the catalog's real push sessions
// (src/catalog/push-session.ts) and the frontends' real caches (src/frontend/cache.ts) on a simulated
// clock and an in-memory network that loses, delays, duplicates and reorders pushes and their
// acknowledgements; frontends whose clocks are off by up to CACHE_CLOCK_SKEW_MS_MAX; frontends that
// crash and come back with an empty cache. Clients trade through one frontend and look up through
// any. Every choice comes from one seeded generator, so a seed replays exactly.
//
// The property, checked at every lookup's answer: it never shows a stock's version from before a
// trade that had been acknowledged (to anyone, through any frontend) when the lookup started.
import assert from 'node:assert/strict';
import { PushSession } from '../../src/catalog/push-session.ts';
import { CACHE_CLOCK_SKEW_MS_MAX, CACHE_LEASE_MS, INVALIDATION_TIMEOUT_MS } from '../../src/core/limits.ts';
import { StockCache } from '../../src/frontend/cache.ts';
import type { InvalidationMessage } from '../../src/protocol/push.ts';
import { Rng } from './simulator.ts';

const STOCKS = ['FishCo', 'BoarCo'];

export interface LeaseWorldOptions {
  readonly frontends: number;
  /** Per-delivery chance a push or its acknowledgement is lost. */
  readonly dropRate: number;
  readonly duplicateRate: number;
  /** Entries each frontend's cache holds (smaller than the stocks: evictions too). */
  readonly cacheMax: number;
}

interface Frontend {
  readonly index: number;
  /** Milliseconds this frontend's clock is ahead of the catalog's (negative: behind). */
  readonly skew: number;
  cache: StockCache;
  /** Bumped at every restart. */
  life: number;
}

interface Session {
  readonly push: PushSession;
  /** Bumped at each delivery, so a late outcome of an earlier one is ignored. */
  delivery: number;
  /** The time at which the delivery in flight fails if no acknowledgement came. */
  failAt: number | undefined;
}

type Packet =
  | { readonly type: 'push'; readonly frontend: number; readonly delivery: number; readonly message: InvalidationMessage }
  | { readonly type: 'push-ack'; readonly frontend: number; readonly delivery: number }
  | { readonly type: 'trade'; readonly frontend: number; readonly life: number; readonly trade: number }
  | { readonly type: 'trade-reply'; readonly frontend: number; readonly life: number; readonly trade: number; readonly name: string; readonly version: number }
  | { readonly type: 'read'; readonly frontend: number; readonly life: number; readonly lookup: Lookup }
  | { readonly type: 'read-reply'; readonly frontend: number; readonly life: number; readonly lookup: Lookup; readonly version: number };

interface Lookup {
  readonly name: string;
  /** The newest version of the stock acknowledged to anyone when the lookup started. */
  readonly floor: number;
  readonly startedAt: number;
}

interface Trade {
  readonly frontend: number;
  readonly life: number;
  readonly name: string;
  readonly version: number;
  /** Push-session tickets it waits for, by frontend. */
  readonly waiting: Set<number>;
}

export class LeaseWorld {
  readonly rng: Rng;
  private readonly options: LeaseWorldOptions;
  /** The catalog's clock; a frontend's is this plus its skew. */
  now = 1_000_000;
  private readonly versions = new Map(STOCKS.map((name) => [name, 0]));
  private readonly frontends: Frontend[] = [];
  private readonly sessions: Session[] = [];
  private packets: Packet[] = [];
  private readonly trades = new Map<number, Trade>();
  /** Ticket -> trade id, over every session (tickets are unique world-wide). */
  private readonly tickets = new Map<number, number>();
  private nextTicket = 1;
  private nextTrade = 1;
  /** Per stock: the newest version acknowledged to a client. */
  private readonly acked = new Map(STOCKS.map((name) => [name, 0]));
  readonly trace: string[] = [];
  step = 0;
  lookups = 0;
  hits = 0;
  tradesAcked = 0;

  constructor(seed: number, options: LeaseWorldOptions) {
    this.rng = new Rng(seed);
    this.options = options;
    for (let index = 0; index < options.frontends; index += 1) {
      const skew = this.rng.int(2 * CACHE_CLOCK_SKEW_MS_MAX + 1) - CACHE_CLOCK_SKEW_MS_MAX;
      const frontend: Frontend = { index, skew, cache: this.newCache(skew), life: 0 };
      this.frontends.push(frontend);
      this.sessions.push({ push: new PushSession(`frontend-${index}`, () => STOCKS.map((name) => ({ name, version: this.versions.get(name)! }))), delivery: 0, failAt: undefined });
    }
    for (const [index, session] of this.sessions.entries()) {
      session.push.tick(this.now);
      this.drain(index);
    }
  }

  private newCache(skew: number): StockCache {
    return new StockCache({ enabled: true, max: this.options.cacheMax, now: () => this.now + skew });
  }

  private say(text: string): void {
    this.trace.push(`${this.step} @${this.now}: ${text}`);
    if (this.trace.length > 80) this.trace.shift();
  }

  /** Carries a session's actions into the network and the trades it holds. */
  private drain(index: number): void {
    const session = this.sessions[index]!;
    for (const action of session.push.takeActions()) {
      if (action.kind === 'deliver') {
        session.delivery += 1;
        session.failAt = this.now + INVALIDATION_TIMEOUT_MS;
        this.packets.push({ type: 'push', frontend: index, delivery: session.delivery, message: action.message });
        this.say(`catalog -> ${index}: push ${action.message.from}->${action.message.to} [${action.message.invalidations.map((item) => `${item.name}@${item.version}`).join(' ')}] lease ${action.message.leaseUntil === 0 ? 'none' : `+${action.message.leaseUntil - this.now}`}`);
      } else if (action.kind === 'release') {
        for (const ticket of action.tickets) this.released(index, ticket);
      }
    }
  }

  private released(index: number, ticket: number): void {
    const id = this.tickets.get(ticket);
    this.tickets.delete(ticket);
    const trade = id === undefined ? undefined : this.trades.get(id);
    if (trade === undefined) return;
    trade.waiting.delete(index);
    if (trade.waiting.size === 0) this.answerTrade(id!, trade);
  }

  private answerTrade(id: number, trade: Trade): void {
    this.trades.delete(id);
    this.packets.push({ type: 'trade-reply', frontend: trade.frontend, life: trade.life, trade: id, name: trade.name, version: trade.version });
  }

  // ---- The steps ---------------------------------------------------------------------------------

  randomStep(faults: boolean): void {
    this.step += 1;
    const roll = this.rng.next();
    if (roll < 0.45) this.deliver(faults);
    // A few milliseconds a step on average: most messages arrive well within the push timeout, and
    // now and then one is held so long that its delivery times out, or a lease runs out under it.
    else if (roll < 0.65) this.advance(this.rng.chance(0.02) ? 100 + this.rng.int(400) : 1 + this.rng.int(10));
    else if (roll < 0.9) this.lookup();
    else if (roll < 0.97) this.trade();
    else if (faults && this.rng.chance(0.1)) this.restartFrontend();
    else this.advance(1);
  }

  /** Time passes: sessions send heartbeats and retries, failed deliveries are noticed, leases run out. */
  advance(ms: number): void {
    this.now += ms;
    for (const [index, session] of this.sessions.entries()) {
      if (session.failAt !== undefined && session.failAt <= this.now) {
        session.failAt = undefined;
        session.delivery += 1;
        this.say(`catalog: push to ${index} timed out`);
        session.push.delivered({ ok: false, error: new Error('timed out') }, this.now);
      }
      session.push.tick(this.now);
      this.drain(index);
    }
  }

  private deliver(faults: boolean): void {
    if (this.packets.length === 0) return;
    const index = this.rng.int(this.packets.length);
    const packet = this.packets[index]!;
    const duplicate = faults && packet.type === 'push' && this.rng.chance(this.options.duplicateRate);
    if (!duplicate) this.packets.splice(index, 1);
    const lost = faults && (packet.type === 'push' || packet.type === 'push-ack') && this.rng.chance(this.options.dropRate);
    if (lost) {
      this.say(`${packet.type} to/from ${packet.frontend} lost`);
      return;
    }
    switch (packet.type) {
      case 'push': {
        const frontend = this.frontends[packet.frontend]!;
        frontend.cache.apply(packet.message);
        this.say(`${packet.frontend}: applied push ${packet.message.from}->${packet.message.to}${duplicate ? ' (a copy stays in the network)' : ''}`);
        this.packets.push({ type: 'push-ack', frontend: packet.frontend, delivery: packet.delivery });
        return;
      }
      case 'push-ack': {
        const session = this.sessions[packet.frontend]!;
        // As over a connection: an acknowledgement counts only for the delivery still waiting for it.
        if (session.delivery !== packet.delivery || session.failAt === undefined) return;
        session.failAt = undefined;
        session.push.delivered({ ok: true }, this.now);
        this.drain(packet.frontend);
        return;
      }
      case 'trade':
        return this.applyTrade(packet);
      case 'trade-reply': {
        const frontend = this.frontends[packet.frontend]!;
        if (frontend.life !== packet.life) return;
        // The trade's own frontend applies the version from the reply before it answers.
        frontend.cache.invalidate({ name: packet.name, version: packet.version });
        this.acked.set(packet.name, Math.max(this.acked.get(packet.name)!, packet.version));
        this.tradesAcked += 1;
        this.say(`${packet.frontend}: trade ${packet.trade} acknowledged, ${packet.name}@${packet.version}`);
        return;
      }
      case 'read':
        this.packets.push({ type: 'read-reply', frontend: packet.frontend, life: packet.life, lookup: packet.lookup, version: this.versions.get(packet.lookup.name)! });
        return;
      case 'read-reply': {
        const frontend = this.frontends[packet.frontend]!;
        if (frontend.life !== packet.life) return;
        frontend.cache.fill({ name: packet.lookup.name, price: 1, quantity: 100, volume: packet.version }, packet.version);
        this.answered(packet.frontend, packet.lookup, packet.version, 'catalog');
        return;
      }
    }
  }

  private applyTrade(packet: Extract<Packet, { type: 'trade' }>): void {
    const name = this.rng.pick(STOCKS);
    const version = this.versions.get(name)! + 1;
    this.versions.set(name, version);
    const id = packet.trade;
    const trade: Trade = { frontend: packet.frontend, life: packet.life, name, version, waiting: new Set() };
    this.say(`catalog: trade ${id} through ${packet.frontend} applied, ${name}@${version}`);
    for (const [index, session] of this.sessions.entries()) {
      if (index === packet.frontend) {
        session.push.change({ name, version }, false, this.now);
      } else {
        const ticket = this.nextTicket++;
        if (!session.push.publish({ name, version }, ticket, this.now)) {
          trade.waiting.add(index);
          this.tickets.set(ticket, id);
        }
      }
    }
    this.trades.set(id, trade);
    for (const index of this.sessions.keys()) this.drain(index);
    if (this.trades.has(id) && trade.waiting.size === 0) this.answerTrade(id, trade);
  }

  private trade(): void {
    const frontend = this.rng.pick(this.frontends);
    this.packets.push({ type: 'trade', frontend: frontend.index, life: frontend.life, trade: this.nextTrade++ });
  }

  private lookup(): void {
    const frontend = this.rng.pick(this.frontends);
    const name = this.rng.pick(STOCKS);
    const lookup: Lookup = { name, floor: this.acked.get(name)!, startedAt: this.step };
    this.lookups += 1;
    const cached = frontend.cache.get(name);
    if (cached !== undefined) {
      this.hits += 1;
      return this.answered(frontend.index, lookup, cached.version, 'cache');
    }
    this.packets.push({ type: 'read', frontend: frontend.index, life: frontend.life, lookup });
  }

  private answered(frontend: number, lookup: Lookup, version: number, from: string): void {
    this.say(`${frontend}: lookup of ${lookup.name} (started at step ${lookup.startedAt}) answered ${lookup.name}@${version} from the ${from}`);
    assert.ok(
      version >= lookup.floor,
      `G5: frontend ${frontend} answered ${lookup.name} at version ${version} from its ${from}, but version ${lookup.floor} had been acknowledged when the lookup started (step ${lookup.startedAt})`,
    );
  }

  private restartFrontend(): void {
    const frontend = this.rng.pick(this.frontends);
    frontend.life += 1;
    frontend.cache = this.newCache(frontend.skew);
    this.say(`RESTART frontend ${frontend.index}: its cache starts empty, with no lease`);
  }

  /** Faults stop; within a lease and a few heartbeats every trade is answered (a dead or slow frontend holds none for ever). */
  settle(): void {
    const deadline = this.now + 4 * CACHE_LEASE_MS;
    const busy = (): boolean => this.trades.size > 0 || this.packets.some((packet) => packet.type !== 'push' && packet.type !== 'push-ack');
    while (this.now < deadline && busy()) {
      this.step += 1;
      if (this.packets.length > 0 && this.rng.chance(0.7)) this.deliver(false);
      else this.advance(5);
    }
    assert.equal(this.trades.size, 0, `${this.trades.size} trades still wait for a push after the faults stopped: ${[...this.trades.values()].map((trade) => `${trade.name}@${trade.version} waits for ${[...trade.waiting].join(',')}`).join('; ')}`);
  }
}
