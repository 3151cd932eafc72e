// The trade's own path, measured: sequential trades through the frontend on a fresh cluster (one
// at a time, each with its own key), their p50, and the CPU each role spent per trade (utime +
// stime from /proc, before and after). Run from the bundle, each role its own process.
import { readFile } from 'node:fs/promises';
import { Client } from 'undici';
import { percentile } from '../../src/client/stats.ts';
import { BUNDLE_COMMAND, type Proc, TestCluster } from '../../test/helpers/cluster.ts';

/**
 * What a trade cannot do without, as DESIGN counts it: four round trips (client -> frontend,
 * frontend -> leader, leader -> catalog, leader -> followers) and two fsync stages (the catalog's;
 * the leader's and the followers', which run side by side).
 */
export const CRITICAL_PATH = { roundTrips: 4, fsyncStages: 2 } as const;

export interface TradePath {
  readonly trades: number;
  readonly p50_ms: number;
  readonly p90_ms: number;
  /** CPU milliseconds per trade, by role, and summed. */
  readonly cpu_ms_per_trade: Readonly<Record<string, number>>;
}

const TICKS_PER_S = 100;

async function cpuMs(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  // utime and stime are fields 14 and 15 of the line, 12 and 13 after the ") ".
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_S;
}

export async function sequentialTrades(count: number, warmup = 200): Promise<TradePath> {
  const cluster = await TestCluster.create({ replicas: 3, command: BUNDLE_COMMAND });
  try {
    const { catalog, orders, frontend } = await cluster.startAll();
    const roles: Array<[string, Proc]> = [['frontend', frontend], ['catalog', catalog], ...[...orders].map(([id, proc]): [string, Proc] => [`order ${id}`, proc])];
    const client = new Client(cluster.url('frontend'));
    const trade = async (index: number): Promise<number> => {
      const started = performance.now();
      const reply = await client.request({
        method: 'POST',
        path: '/orders',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: index % 2 === 0 ? 'GameStart' : 'FishCo', quantity: 1, type: index % 4 < 2 ? 'sell' : 'buy' }),
      });
      await reply.body.dump();
      if (reply.statusCode !== 200) throw new Error(`trade ${index} answered ${reply.statusCode}`);
      return performance.now() - started;
    };
    try {
      for (let index = 0; index < warmup; index += 1) await trade(index);
      const before = await Promise.all(roles.map(([, proc]) => cpuMs(proc.pid)));
      const samples: number[] = [];
      for (let index = 0; index < count; index += 1) samples.push(await trade(index));
      const after = await Promise.all(roles.map(([, proc]) => cpuMs(proc.pid)));
      const perTrade = Object.fromEntries(roles.map(([name], index) => [name, Math.round(((after[index]! - before[index]!) / count) * 100) / 100]));
      const summed = Math.round(Object.values(perTrade).reduce((sum, value) => sum + value, 0) * 100) / 100;
      samples.sort((a, b) => a - b);
      return { trades: count, p50_ms: Math.round(percentile(samples, 0.5) * 1000) / 1000, p90_ms: Math.round(percentile(samples, 0.9) * 1000) / 1000, cpu_ms_per_trade: { ...perTrade, summed } };
    } finally {
      await client.close();
    }
  } finally {
    await cluster.destroy();
  }
}
