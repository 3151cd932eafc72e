// The catalog in the simulated world: the real state machine (src/catalog/state.ts) as a process with
// lives. Its checkpoint is what is durable; what it applied since is lost when it crashes, and its
// whole disk (the checkpoint) can be lost too. A call is taken in (the state changes) and answered in
// separate steps, either of which a fault can lose; every call and answer is tied to the life that
// took it, so an answer from a dead life reaches the leader only as a failure.
import assert from 'node:assert/strict';
import type { StockSeed } from '../../src/core/config.ts';
import { BazaarError } from '../../src/core/errors.ts';
import type { OrderEntry } from '../../src/core/trade.ts';
import { CatalogState, type Checkpoint } from '../../src/catalog/state.ts';
import type { CatalogCall, Outcome } from '../../src/order/replica/messages.ts';
import type { Rng } from './simulator.ts';

/** Small limits, so that buys are refused and every reservation matters. */
export const SIM_STOCKS: readonly StockSeed[] = [
  { name: 'FishCo', price: 1, quantity: 6 },
  { name: 'BoarCo', price: 2, quantity: 3 },
  { name: 'MenhirCo', price: 3, quantity: 0 },
];

interface Call {
  readonly node: number;
  readonly nodeLife: number;
  readonly op: number;
  readonly call: CatalogCall;
}

/** An answer on its way back to a replica. */
export interface CatalogAnswer {
  readonly node: number;
  readonly nodeLife: number;
  readonly op: number;
  readonly outcome: Outcome<unknown>;
}

export class SimCatalog {
  state: CatalogState;
  up = true;
  life = 1;
  /** What is on its disk. */
  private checkpoint: Checkpoint | undefined;
  private calls: Call[] = [];
  /** Approvals held until the entries they need are applied. */
  private held: Call[] = [];
  private readonly answers: CatalogAnswer[] = [];
  /** The state each (stock, version) named when first seen: a version must never name two. */
  private readonly named = new Map<string, string>();
  private readonly say: (text: string) => void;
  private checked = '';

  readonly stocks: readonly StockSeed[];

  constructor(say: (text: string) => void, stocks: readonly StockSeed[] = SIM_STOCKS) {
    this.say = say;
    this.stocks = stocks;
    this.state = new CatalogState(stocks, 'life-1');
  }

  get pending(): number {
    return this.calls.length + this.held.length + this.answers.length;
  }

  call(node: number, nodeLife: number, op: number, call: CatalogCall): void {
    if (!this.up) this.answers.push({ node, nodeLife, op, outcome: { ok: false, error: new Error('the catalog is down') } });
    else this.calls.push({ node, nodeLife, op, call });
  }

  /** Takes one call in (state changes), or loses it; the answer waits for its own step. */
  takeCall(rng: Rng, faults: boolean): void {
    if (this.calls.length === 0) return;
    const [call] = this.calls.splice(rng.int(this.calls.length), 1);
    const { node, nodeLife, op } = call!;
    if (!this.up || (faults && rng.chance(0.03))) {
      this.answers.push({ node, nodeLife, op, outcome: { ok: false, error: new Error('the catalog did not answer') } });
      return;
    }
    let outcome: Outcome<unknown>;
    try {
      if (call!.call.kind === 'approve') {
        const approval = this.state.approve(call!.call.call);
        this.say(`catalog (life ${this.life}) approval of ${call!.call.call.trade.key} from ${node}: ${approval.status}`);
        // As the real one does (store.ts): held until the entries it needs first are applied.
        if (approval.status === 'behind' && !(faults && rng.chance(0.1))) {
          this.held.push(call!);
          return;
        }
        outcome = { ok: true, value: approval };
      } else {
        const request = call!.call.request;
        const reply = this.state.apply(request);
        this.say(`catalog (life ${this.life}) apply from ${node} (epoch ${request.epoch}): ${request.entries.length} from ${request.from}, now ${reply.applied}${this.state.ready ? ', ready' : ''}`);
        outcome = { ok: true, value: reply };
        // Held approvals are taken in again.
        this.calls.push(...this.held.splice(0));
      }
    } catch (error) {
      assert.ok(error instanceof BazaarError, `the catalog threw ${String(error)}`);
      this.say(`catalog (life ${this.life}) refused ${call!.call.kind} from ${node}: ${error.message}`);
      outcome = { ok: false, error };
    }
    this.answers.push({ node, nodeLife, op, outcome });
  }

  /** One answer goes back, or is lost (the leader sees a failure). */
  takeAnswer(rng: Rng, faults: boolean): CatalogAnswer | undefined {
    if (this.answers.length === 0) return undefined;
    const [answer] = this.answers.splice(rng.int(this.answers.length), 1);
    if (faults && rng.chance(0.03)) return { ...answer!, outcome: { ok: false, error: new Error('the catalog answer was lost') } };
    return answer;
  }

  /** The periodic checkpoint write reaches the disk. */
  saveCheckpoint(): void {
    if (!this.up) return;
    this.checkpoint = this.state.checkpoint();
    this.say(`catalog checkpoint through ${this.checkpoint.applied}`);
  }

  /** kill -9: what was applied since the checkpoint is gone, reservations too; with `disk`, the checkpoint as well. */
  crash(disk: boolean): void {
    if (!this.up) return;
    this.up = false;
    // Its connections close: every call it took in or was sent, and every answer not yet delivered, fails.
    const lost = [...this.calls, ...this.held, ...this.answers];
    this.calls = [];
    this.held = [];
    this.answers.length = 0;
    for (const { node, nodeLife, op } of lost) this.answers.push({ node, nodeLife, op, outcome: { ok: false, error: new Error('the catalog connection closed') } });
    if (disk) this.checkpoint = undefined;
    this.say(`CATALOG CRASH${disk ? ' and its disk is lost' : ''} (life ${this.life})`);
  }

  restart(): void {
    if (this.up) return;
    this.life += 1;
    this.up = true;
    this.state = new CatalogState(this.stocks, `life-${this.life}`, this.checkpoint);
    this.say(`CATALOG RESTART (life ${this.life}) from ${this.checkpoint === undefined ? 'nothing' : `a checkpoint through ${this.checkpoint.applied}`}`);
  }

  /** After every step: quantities never below zero, and no version names two states. */
  check(): void {
    // The stocks change only when entries are applied (or a life starts over).
    const seen = `${this.life}/${this.state.applied}/${this.state.resets}`;
    if (seen === this.checked) return;
    this.checked = seen;
    assert.equal(this.state.violations, 0, 'a committed order took a quantity below zero');
    for (const name of this.stocks.map((seed) => seed.name)) {
      const { stock, version } = this.state.lookup(name)!;
      assert.ok(stock.quantity >= 0, `${name} has quantity ${stock.quantity}`);
      const key = `${name}@${version}`;
      const state = `${stock.quantity}/${stock.volume}`;
      const before = this.named.get(key);
      assert.ok(before === undefined || before === state, `version ${version} of ${name} named ${before} and now ${state}`);
      this.named.set(key, state);
    }
  }

  /** At settle: the catalog is the initial list plus the committed log (G4). */
  assertEquals(log: readonly OrderEntry[]): void {
    assert.equal(this.state.applied, log.length, 'the catalog applied the whole committed log');
    for (const seed of this.stocks) {
      const trades = log.filter((entry) => entry.name === seed.name);
      const quantity = trades.reduce((sum, entry) => sum + (entry.type === 'buy' ? -entry.quantity : entry.quantity), seed.quantity);
      const volume = trades.reduce((sum, entry) => sum + entry.quantity, 0);
      const { stock } = this.state.lookup(seed.name)!;
      assert.deepEqual({ quantity: stock.quantity, volume: stock.volume }, { quantity, volume }, `${seed.name} is the log's (G4)`);
    }
  }
}
