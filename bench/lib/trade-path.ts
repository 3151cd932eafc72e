// The trade's own path, measured: sequential trades through the frontend on a fresh cluster (one
// at a time, each with its own key), their p50, the CPU each role spent per trade (utime + stime
// from /proc, before and after), and where one trade's time goes: the mean time of each stage, from
// the stage timings every role keeps in its /metrics. Run from the bundle, each role its own process.
import { Client } from 'undici';
import { percentile } from '../../src/client/stats.ts';
import { BUNDLE_COMMAND, http, type Proc, TestCluster } from '../../harness/cluster.ts';
import { cpuMeter } from './cpu.ts';

/**
 * What a trade cannot do without, as docs/design.md counts it: four round trips (client -> frontend,
 * frontend -> leader, leader -> catalog, leader -> followers) and one fsync stage (the leader's and
 * the followers', side by side; the catalog's approval has none, and it applies after the reply).
 */
export const CRITICAL_PATH = { roundTrips: 4, fsyncStages: 1 } as const;

/** One line of the breakdown: mean milliseconds per trade; `depth` nests a part under its whole. */
export interface Stage {
  readonly stage: string;
  readonly mean_ms: number;
  readonly depth: number;
}

export interface TradePath {
  readonly trades: number;
  readonly p50_ms: number;
  readonly p90_ms: number;
  readonly mean_ms: number;
  /** CPU milliseconds per trade, by role, and summed. */
  readonly cpu_ms_per_trade: Readonly<Record<string, number>>;
  readonly breakdown: readonly Stage[];
}

/** Sum of every sample of counter `name` whose labels include `labels`, from Prometheus text. */
function counter(text: string, name: string, labels: Readonly<Record<string, string>>): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

type Scrape = Record<string, string>;

async function scrape(urls: Readonly<Record<string, string>>): Promise<Scrape> {
  const texts = await Promise.all(Object.entries(urls).map(async ([role, url]) => [role, (await http(`${url}/metrics`)).text] as const));
  return Object.fromEntries(texts);
}

/** Mean milliseconds of a timed series over the trades between two scrapes. */
function meanMs(before: Scrape, after: Scrape, role: string, seconds: [string, Record<string, string>], count: [string, Record<string, string>]): number {
  const time = counter(after[role]!, ...seconds) - counter(before[role]!, ...seconds);
  const times = counter(after[role]!, ...count) - counter(before[role]!, ...count);
  return times === 0 ? Number.NaN : Math.round((time / times) * 1e6) / 1e3;
}

function breakdown(before: Scrape, after: Scrape, clientMeanMs: number, leader: string, followers: readonly string[]): Stage[] {
  const route = (role: string, prefix: string, name: string): number => meanMs(before, after, role, [`${prefix}_request_duration_seconds_sum`, { route: name }], [`${prefix}_request_duration_seconds_count`, { route: name }]);
  const stage = (role: string, prefix: string, name: string): number => meanMs(before, after, role, [`${prefix}_stage_seconds_total`, { stage: name }], [`${prefix}_stage_total`, { stage: name }]);
  const mean = (values: number[]): number => Math.round((values.reduce((sum, value) => sum + value, 0) / values.length) * 1000) / 1000;
  const frontend = route('frontend', 'bazaar_frontend', 'POST /orders');
  const toLeader = stage('frontend', 'bazaar_frontend', 'leader');
  const atLeader = route(leader, 'bazaar_order', 'POST /orders');
  const toCatalog = stage(leader, 'bazaar_order', 'catalog');
  const atCatalog = route('catalog', 'bazaar_catalog', 'POST /internal/approve');
  const followerAppend = stage(leader, 'bazaar_order', 'follower_append');
  const atFollower = mean(followers.map((id) => route(id, 'bazaar_order', 'POST /internal/append')));
  const round = (value: number): number => Math.round(value * 1000) / 1000;
  return [
    { stage: 'trade as the client sees it', mean_ms: round(clientMeanMs), depth: 0 },
    { stage: 'client and HTTP, client ↔ frontend', mean_ms: round(clientMeanMs - frontend), depth: 1 },
    { stage: 'frontend, request in to reply out', mean_ms: frontend, depth: 1 },
    { stage: 'frontend\'s own work (parse, cache update, reply)', mean_ms: round(frontend - toLeader), depth: 2 },
    { stage: 'call to the leader, there and back', mean_ms: toLeader, depth: 2 },
    { stage: 'link transit, frontend ↔ leader', mean_ms: round(toLeader - atLeader), depth: 3 },
    { stage: 'leader, request in to reply out', mean_ms: atLeader, depth: 3 },
    { stage: 'call to the catalog for its approval, there and back', mean_ms: toCatalog, depth: 4 },
    { stage: 'link transit, leader ↔ catalog', mean_ms: round(toCatalog - atCatalog), depth: 5 },
    { stage: 'catalog, request in to reply out', mean_ms: atCatalog, depth: 5 },
    { stage: 'approval (a reservation in memory; no fsync)', mean_ms: stage('catalog', 'bazaar_catalog', 'approve'), depth: 6 },
    { stage: 'wait for other frontends\' push', mean_ms: stage('catalog', 'bazaar_catalog', 'push'), depth: 6 },
    { stage: 'after the catalog: log, replicate, commit', mean_ms: round(atLeader - toCatalog), depth: 4 },
    { stage: 'own log append + fdatasync', mean_ms: stage(leader, 'bazaar_order', 'log_append'), depth: 5 },
    { stage: 'append to a follower, there and back (alongside)', mean_ms: followerAppend, depth: 5 },
    { stage: 'follower, request in to reply out', mean_ms: atFollower, depth: 6 },
    { stage: 'follower\'s log append + fdatasync', mean_ms: mean(followers.map((id) => stage(id, 'bazaar_order', 'log_append'))), depth: 7 },
    { stage: 'off the path: the catalog applies committed orders (per message)', mean_ms: route('catalog', 'bazaar_catalog', 'POST /internal/apply'), depth: 1 },
  ];
}

export async function sequentialTrades(count: number, warmup = 200): Promise<TradePath> {
  const cluster = await TestCluster.create({ replicas: 3, command: BUNDLE_COMMAND, tls: process.env.BAZAAR_BENCH_TLS === '1' });
  try {
    const { catalog, orders, frontend } = await cluster.startAll();
    const roles: Array<[string, Proc]> = [['frontend', frontend], ['catalog', catalog], ...[...orders].map(([id, proc]): [string, Proc] => [`order ${id}`, proc])];
    const urls: Record<string, string> = { frontend: cluster.url('frontend'), catalog: cluster.url('catalog'), ...Object.fromEntries([...orders.keys()].map((id) => [`order ${id}`, cluster.url(id)])) };
    // A public client of an HTTPS frontend: its certificate is not what is measured here.
    const client = new Client(cluster.url('frontend'), cluster.scheme === 'https' ? { connect: { rejectUnauthorized: false } } : {});
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
      const states = await Promise.all([...orders.keys()].map(async (id) => [`order ${id}`, ((await http(`${cluster.url(id)}/health`)).body as { data: { state: string } }).data.state] as const));
      const leader = states.find(([, state]) => state === 'leader')?.[0];
      if (leader === undefined) throw new Error('no replica leads after the warm-up');
      const before = await scrape(urls);
      const samples: number[] = [];
      const meter = await cpuMeter(roles.map(([name, proc]) => [name, proc.pid] as const));
      for (let index = 0; index < count; index += 1) samples.push(await trade(index));
      const cpu = await meter.perUnit(count);
      const after = await scrape(urls);
      const meanMs = samples.reduce((sum, value) => sum + value, 0) / samples.length;
      samples.sort((a, b) => a - b);
      const followers = states.map(([name]) => name).filter((name) => name !== leader);
      return {
        trades: count,
        p50_ms: Math.round(percentile(samples, 0.5) * 1000) / 1000,
        p90_ms: Math.round(percentile(samples, 0.9) * 1000) / 1000,
        mean_ms: Math.round(meanMs * 1000) / 1000,
        cpu_ms_per_trade: cpu,
        breakdown: breakdown(before, after, meanMs, leader, followers),
      };
    } finally {
      await client.close();
    }
  } finally {
    await cluster.destroy();
  }
}
