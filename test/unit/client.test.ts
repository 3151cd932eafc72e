// The client's choices and figures: the skewed choice of stock that shows cache replacement, and
// latency summaries that have no figures, not zeros, when no request of a kind succeeded.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { seededRandom, skewedPicker } from '../../src/client/random.ts';
import { summarize } from '../../src/client/stats.ts';

const STOCKS = ['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K'];
const DRAWS = 110_000;

function shares(skew: number): number[] {
  const pick = skewedPicker(STOCKS, skew);
  const random = seededRandom(42);
  const counts = new Map<string, number>();
  for (let draw = 0; draw < DRAWS; draw += 1) {
    const name = pick(random);
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return STOCKS.map((name) => (counts.get(name) ?? 0) / DRAWS);
}

describe('client', () => {
  test('skew 0 chooses every stock about equally', () => {
    for (const share of shares(0)) assert.ok(Math.abs(share - 1 / STOCKS.length) < 0.01, `share ${share}`);
  });

  test('skew 1 chooses by Zipf weights 1/rank: the first of 11 stocks about a third of the time, the last about 3 %', () => {
    const harmonic = STOCKS.reduce((sum, _name, index) => sum + 1 / (index + 1), 0);
    const measured = shares(1);
    measured.forEach((share, index) => assert.ok(Math.abs(share - 1 / (index + 1) / harmonic) < 0.01, `rank ${index + 1}: ${share}`));
  });

  test('a kind with no successful request has a count of 0 and null figures', () => {
    assert.deepEqual(summarize([]), { count: 0, p50_ms: null, p90_ms: null, p99_ms: null, max_ms: null, mean_ms: null });
    assert.deepEqual(summarize([2, 1, 3]), { count: 3, p50_ms: 2, p90_ms: 3, p99_ms: 3, max_ms: 3, mean_ms: 2 });
  });
});
