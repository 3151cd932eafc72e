// A small seeded random source (mulberry32), so that a client run can be replayed with --seed.

export interface Random {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [min, max], both included. */
  int(min: number, max: number): number;
  pick<T>(items: readonly T[]): T;
}

export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    pick: (items) => items[Math.floor(next() * items.length)]!,
  };
}

/**
 * Chooses among `items` with Zipf weights 1/rank^skew (rank 1 the first item): 0 is uniform, 1 gives
 * the first of 11 stocks about a third of the choices. For showing a cache that holds only some.
 */
export function skewedPicker<T>(items: readonly T[], skew: number): (random: Random) => T {
  if (skew === 0) return (random) => random.pick(items);
  const cumulative: number[] = [];
  let total = 0;
  for (let rank = 1; rank <= items.length; rank += 1) {
    total += 1 / rank ** skew;
    cumulative.push(total);
  }
  return (random) => {
    const target = random.next() * total;
    const index = cumulative.findIndex((bound) => target < bound);
    return items[index === -1 ? items.length - 1 : index]!;
  };
}
