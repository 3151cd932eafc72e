// The evaluation's targets as data: each a bound on one figure. The report renders its goal from
// here (`goalText`) and judges it here (`meets`), so a threshold is written once.

export interface Goal {
  /** Whether the figure must stay at most, or reach at least, `value`. */
  readonly bound: 'at most' | 'at least';
  readonly value: number;
  /** What the figure is counted in, or compared with, as the report says it: "ms", "× the floor". */
  readonly unit: string;
  /** Words the report puts before the bound, if any: "not worse". */
  readonly words?: string;
}

const atMost = (value: number, unit: string): Goal => ({ bound: 'at most', value, unit });
const atLeast = (value: number, unit: string): Goal => ({ bound: 'at least', value, unit });
const none = atMost(0, '');

export const GOALS = {
  cachedLookupThroughput: atLeast(0.8, '× bare node:http'),
  orderThroughput: atLeast(0.12, '× bare node:http'),
  sequentialTrade: atMost(2, '× the floor'),
  cachedLookupLatency: atMost(0.5, '× uncached p50'),
  failoverErrors: none,
  failoverWorstTrade: atMost(100, 'ms'),
  hangErrors: none,
  hangWorstTrade: atMost(500, 'ms'),
  catalogOutage: atMost(1_000, 'ms'),
  catalogLost: none,
  crashErrors: none,
  crashFinalCheck: none,
  catchUp100k: atMost(2_000, 'ms'),
  // This build against the previous, in an interleaved A/B: ratios of medians.
  abTradeP50: atMost(0.4, '×'),
  abLookupP50: { ...atMost(1, '×'), words: 'not worse' },
  abQueryP50: { ...atMost(1, '×'), words: 'not worse' },
  abOrdersPerS: atLeast(4, '×'),
  abCpuPerOrder: atMost(0.35, '×'),
  abCpuPerTrade: atMost(0.35, '×'),
  // The cluster's TLS against none, one build, in an interleaved A/B (issue 25): trades within 10 %,
  // throughput within 15 %.
  tlsTradeP50: atMost(1.1, '×'),
  tlsThroughput: atLeast(0.85, '×'),
} as const satisfies Record<string, Goal>;

export function meets(goal: Goal, figure: number): boolean {
  return goal.bound === 'at most' ? figure <= goal.value : figure >= goal.value;
}

/** The goal as the report writes it: "≤ 2 × the floor", "≥ 0.8 × bare node:http", "≤ 1 s", "0". */
export function goalText(goal: Goal): string {
  if (goal.value === 0 && goal.unit === '') return '0';
  const value = goal.unit === 'ms' && goal.value >= 1_000 ? `${goal.value / 1_000} s` : `${goal.value}${goal.unit === '' || goal.unit === 'ms' ? (goal.unit === 'ms' ? ' ms' : '') : ` ${goal.unit}`}`;
  const bound = `${goal.bound === 'at most' ? '≤' : '≥'} ${value}`;
  return goal.words === undefined ? bound : `${goal.words} (${bound})`;
}

/** How far a figure that misses its goal got, as a share of it: "Reaches 80% of the goal." */
export function reached(goal: Goal, figure: number): string {
  const share = goal.bound === 'at least' ? figure / goal.value : goal.value / figure;
  return `Reaches ${(share * 100).toFixed(0)}% of the goal.`;
}
