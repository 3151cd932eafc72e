// The replica's state machine (src/order/replica/) in a seeded simulated world: messages dropped, delayed,
// duplicated and reordered; replicas crashed at any action boundary (losing what their disk had not
// yet written), restarted and partitioned; the catalog's replies lost. After every step: no
// acknowledged order is lost or changed, at most one serving leader per epoch, logs agree up to
// any entry they share; the core itself asserts its own invariants (commit never passes the log and
// only rises, a follower never matches past the leader's log, epochs only rise). Then faults stop
// and the cluster must converge, every applied trade an order once.
//
// A failing seed prints itself and its last steps. Replay one:   SIM_SEED=1234 node --import tsx --test test/unit/simulator.test.ts
// Run more seeds:                                                SIM_SEEDS=20000 node --import tsx --test test/unit/simulator.test.ts
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { World, type WorldOptions } from '../helpers/simulator.ts';

const FAULT_STEPS = 1_000;
const ROOMY = [{ name: 'FishCo', price: 1, quantity: 1_000_000 }];
const SETTLE_STEPS = 40_000;

function run(seed: number, options: WorldOptions): World {
  const world = new World(seed, options);
  try {
    world.chooseAtStart();
    world.elect(world.rng.int(options.replicas) + 1);
    for (let step = 0; step < FAULT_STEPS; step += 1) world.randomStep(true);
    world.settle(SETTLE_STEPS);
    return world;
  } catch (error) {
    const message = (error as Error).message;
    throw new Error(
      `seed ${seed} (${options.replicas} replicas) failed at step ${world.step}: ${message}\n` +
        `replay: SIM_SEED=${seed} node --import tsx --test test/unit/simulator.test.ts\nlast steps:\n${world.trace.join('\n')}`,
      { cause: error },
    );
  }
}

const single = process.env.SIM_SEED === undefined ? undefined : Number(process.env.SIM_SEED);
const seeds = Number(process.env.SIM_SEEDS ?? 3_000);

describe('the replica core in a simulated world', () => {
  for (const replicas of [3, 5]) {
    const options: WorldOptions = { replicas, batchEntries: 3, dropRate: 0.1, duplicateRate: 0.05, frontends: 2 };
    // Five replicas cost about twice as much a step; they get a quarter of the seeds.
    const count = single === undefined ? (replicas === 3 ? seeds : Math.ceil(seeds / 4)) : 1;
    test(`${single === undefined ? `${count} seeds` : `seed ${single}`}, ${replicas} replicas: safe after every step, converged at the end`, (t) => {
      const first = single ?? 1;
      let acked = 0;
      let applied = 0;
      let diskFaults = 0;
      for (let seed = first; seed < first + count; seed += 1) {
        const world = run(seed, options);
        acked += world.acked.size;
        applied += world.catalog.state.applied;
        diskFaults += world.diskFaults;
      }
      // The worlds did real work: orders were acknowledged, not just refused; disks were lost (and,
      // as settling checks, every recovering replica recovered).
      assert.ok(acked > count, `only ${acked} orders acknowledged over ${count} seeds`);
      assert.ok(applied >= acked);
      assert.ok(single !== undefined || diskFaults > count, `only ${diskFaults} disk faults over ${count} seeds`);
      t.diagnostic(`${acked} orders acknowledged, ${diskFaults} disk faults recovered`);
    });
  }
});

describe('frontends choosing the leader in a simulated world', () => {
  // Three frontends run the real leader choice (src/frontend/choice.ts) against the replicas' real
  // machines; the network loses nothing, and the only failures are crashes of the serving leader, one
  // at a time, each restarted once a new leader serves and before the next crash. However the frontends' pings, notices and
  // failovers interleave, each failure costs one election: the highest epoch any replica joins is
  // never more than one (the choice at start) plus the leader failures so far.
  const count = single === undefined ? Math.ceil(seeds / 6) : 1;
  test(`${single === undefined ? `${count} seeds` : `seed ${single}`}, 3 replicas, 3 frontends: one election per leader failure, and trades go on`, () => {
    const first = single ?? 1;
    let failures = 0;
    let acked = 0;
    for (let seed = first; seed < first + count; seed += 1) {
      // Stocks with room enough that trades go on: this run counts elections, not refusals.
      const world = new World(seed, { replicas: 3, batchEntries: 3, dropRate: 0, duplicateRate: 0, frontends: 3, rogue: false, stocks: ROOMY });
      try {
        world.chooseAtStart();
        for (let step = 0; step < FAULT_STEPS; step += 1) {
          if (world.rng.chance(0.004) && world.crashLeader()) world.say(`the serving leader crashed (failure ${world.leaderFailures})`);
          else if (world.rng.chance(0.01) && world.serving()) world.restartAll();
          else world.randomStep(false);
          assert.ok(world.maxEpoch() <= 1 + world.leaderFailures, `epoch ${world.maxEpoch()} after ${world.leaderFailures} leader failures: the frontends held more than one election for a failure`);
        }
      } catch (error) {
        throw new Error(
          `seed ${seed} failed at step ${world.step}: ${(error as Error).message}\n` +
            `replay: SIM_SEED=${seed} node --import tsx --test test/unit/simulator.test.ts\nlast steps:\n${world.trace.join('\n')}`,
          { cause: error },
        );
      }
      failures += world.leaderFailures;
      acked += world.acked.size;
    }
    assert.ok(failures > count / 2, `only ${failures} leader failures over ${count} seeds`);
    assert.ok(acked > count * 5, `only ${acked} orders acknowledged over ${count} seeds`);
  });
});
