// From readings to what the page shows: the snapshot (boxes, stocks, G4 badge), one chart point per
// pair of readings, and the timeline's events, found by comparing each reading with the one before.
// Pure: no I/O and no clock, so every rule here is a unit test away.
import { type Conservation, type EventKind, type FrontendBox, type Point, type ReplicaBox, ROUTES, type RouteKind, type Snapshot, type TimelineEvent } from '../protocol/dashboard.ts';
import { type Config, frontendLabel, replicaName } from '../core/config.ts';
import { DASHBOARD_IN_SYNC_LAG_MAX } from '../core/limits.ts';
import { addBuckets, bucketIncrease, buckets, increase, quantile, type Sample, total } from './prometheus.ts';
import type { Reading } from './reader.ts';
import { majorityOf } from '../core/quorum.ts';

const KINDS = Object.keys(ROUTES) as RouteKind[];

/** What a refusal's status means, for the timeline. */
const REFUSALS: Readonly<Record<string, string>> = {
  '400': 'bad input',
  '404': 'not found',
  '405': 'wrong method',
  '409': 'not enough stock',
  '413': 'too large',
  '503': 'unavailable (retried by clients)',
};

/** A replica catching up: since when, and the most it was behind meanwhile. */
export interface CatchUp {
  readonly since: number;
  behind: number;
}

function leaderOf(reading: Reading): { id: number; lastNumber: number } | undefined {
  const serving = reading.replicas.find((replica) => replica.health?.state === 'leader' && replica.health.serving);
  return serving?.health === null || serving === undefined ? undefined : { id: serving.id, lastNumber: serving.health.lastNumber };
}

function address(endpoint: { host: string; port: number }): string {
  return `${endpoint.host}:${endpoint.port}`;
}

export function snapshot(config: Config, reading: Reading, conservation: Conservation): Snapshot {
  const pid = (name: string): number | null => {
    const child = reading.supervised?.[name];
    return child?.running === true && child.pid !== undefined ? child.pid : null;
  };
  const leader = leaderOf(reading);
  const replicas: ReplicaBox[] = reading.replicas.map(({ id, health }) => {
    const endpoint = config.orders.find((replica) => replica.id === id)!;
    const base = { name: `order ${id}`, id, address: address(endpoint), up: health !== null, pid: pid(replicaName(id)) };
    if (health === null) return { ...base, role: null, serving: false, epoch: null, logEpoch: null, lastNumber: null, lag: null, sync: 'down', progress: null };
    const lag = leader === undefined ? null : Math.max(0, leader.lastNumber - health.lastNumber);
    const sync = health.state === 'recovering' ? 'recovering' : leader?.id === id ? 'leader' : lag === null ? 'unknown' : lag <= DASHBOARD_IN_SYNC_LAG_MAX ? 'in sync' : 'catching up';
    const target = health.recovery?.target ?? null;
    const progress = sync === 'recovering' ? (target === null || target === 0 ? 0 : Math.min(1, (health.lastNumber + 1) / target)) : sync === 'catching up' && leader !== undefined ? (health.lastNumber + 1) / (leader.lastNumber + 1) : null;
    return { ...base, role: health.state, serving: health.serving, epoch: health.epoch, logEpoch: health.logEpoch, lastNumber: health.lastNumber, lag, sync, progress };
  });
  const frontends: FrontendBox[] = reading.frontends.map(({ health, metrics }, index) => {
    const cache = health?.cache ?? null;
    const name = frontendLabel(config, index);
    return {
      name,
      address: address(config.frontends[index]!),
      up: health !== null,
      pid: pid(name.replace(' ', '-')),
      leader: health?.leader ?? null,
      epoch: health?.epoch ?? null,
      elections: metrics === null ? null : total(metrics, 'bazaar_frontend_leader_elections_total'),
      cache,
      hitRatio: cache === null || !cache.enabled || cache.hits + cache.misses === 0 ? null : cache.hits / (cache.hits + cache.misses),
    };
  });
  return {
    at: reading.at,
    catalog: { name: 'catalog', address: address(config.catalog), up: reading.catalog !== null, pid: pid('catalog'), trades: reading.catalog?.trades ?? null },
    frontend: frontends[0]!,
    frontends,
    replicas,
    stocks: reading.stocks ?? [],
    conservation,
    supervised: reading.supervised !== undefined,
    tokenRequired: config.token !== undefined,
  };
}

/** The frontends whose metrics both readings have: before and after, each. */
function metricPairs(previous: Reading, next: Reading): Array<[readonly Sample[], readonly Sample[]]> {
  const pairs: Array<[readonly Sample[], readonly Sample[]]> = [];
  next.frontends.forEach(({ metrics }, index) => {
    const before = previous.frontends[index]?.metrics;
    if (metrics !== null && before !== null && before !== undefined) pairs.push([before, metrics]);
  });
  return pairs;
}

/**
 * Rates and latencies between two readings, over every frontend that answered both times (each
 * frontend's counters are differenced on their own, then added); null when none did.
 */
export function point(previous: Reading, next: Reading): Point | null {
  const pairs = metricPairs(previous, next);
  const seconds = (next.at - previous.at) / 1000;
  if (pairs.length === 0 || seconds <= 0) return null;
  const sum = (name: string, labels: Readonly<Record<string, string>> = {}): number => pairs.reduce((acc, [before, after]) => acc + increase(total(before, name, labels), total(after, name, labels)), 0);
  const durations = 'bazaar_frontend_request_duration_seconds';
  const latency = (kind: RouteKind, q: number): number | null => {
    const counts = addBuckets(pairs.map(([before, after]) => bucketIncrease(buckets(before, durations, { route: ROUTES[kind] }), buckets(after, durations, { route: ROUTES[kind] }))));
    const value = quantile(counts, q);
    return value === null ? null : Math.round(value * 1e6) / 1e3;
  };
  const per = <T>(make: (kind: RouteKind) => T): Record<RouteKind, T> => Object.fromEntries(KINDS.map((kind) => [kind, make(kind)])) as Record<RouteKind, T>;
  const hits = sum('bazaar_frontend_cache_hits_total');
  const misses = sum('bazaar_frontend_cache_misses_total');
  const lastOrder = (reading: Reading): number => Math.max(-1, ...reading.replicas.map((replica) => replica.health?.lastNumber ?? -1));
  return {
    at: next.at,
    rps: per((kind) => Math.round((sum('bazaar_frontend_requests_total', { route: ROUTES[kind] }) / seconds) * 10) / 10),
    p50: per((kind) => latency(kind, 0.5)),
    p99: per((kind) => latency(kind, 0.99)),
    ordersPerS: Math.round((Math.max(0, lastOrder(next) - lastOrder(previous)) / seconds) * 10) / 10,
    hitRatio: hits + misses === 0 ? null : Math.round((hits / (hits + misses)) * 1000) / 1000,
  };
}

/** Replicas that lost their disk and recover from their peers, those that recovered, and a majority lost. */
function recoveries(next: Reading, previous: Reading, event: (kind: EventKind, text: string) => void): void {
  const recovering = (reading: Reading, id: number): boolean => reading.replicas.find((replica) => replica.id === id)?.health?.state === 'recovering';
  const sound = next.replicas.filter((replica) => replica.health !== null && replica.health.state !== 'recovering').map((replica) => replica.id);
  for (const replica of next.replicas) {
    const was = recovering(previous, replica.id);
    const is = recovering(next, replica.id);
    if (is && !was) event('recovery', `replica ${replica.id} lost its disk; recovering from ${sound.length === 0 ? 'no sound replica yet' : sound.join(' and ')}`);
    if (was && !is && replica.health !== null) event('recovery', `replica ${replica.id} recovered: it holds the leader's ${replica.health.lastNumber + 1} orders and counts again`);
  }
  const majority = majorityOf(next.replicas.length);
  const count = (reading: Reading): number => reading.replicas.filter((replica) => replica.health?.state === 'recovering').length;
  if (count(next) >= majority && count(previous) < majority) {
    event('recovery', `a majority of order replicas lost their disks: the orders only they held cannot be recovered, and no trade is served; restore a data folder from a backup, or start a new cluster`);
  }
}

/**
 * What changed between two readings, as timeline events: roles that went down or came back,
 * elections, replicas that finished catching up (from `catchUps`, which this updates), the
 * catalog rebuilding from the order log, cache resets, and requests the frontend refused, by kind.
 */
export function changes(config: Config, previous: Reading, next: Reading, catchUps: Map<number, CatchUp>): TimelineEvent[] {
  const events: TimelineEvent[] = [];
  const event = (kind: EventKind, text: string): void => {
    events.push({ at: next.at, kind, text });
  };
  const upDown = (name: string, was: boolean, is: boolean, pid: number | undefined): void => {
    if (was && !is) event('crash', `${name} went down (stopped answering)`);
    if (!was && is) event('restart', `${name} is up${pid === undefined ? '' : ` (pid ${pid})`}`);
  };
  upDown('catalog', previous.catalog !== null, next.catalog !== null, next.supervised?.catalog?.pid);
  // The catalog is derived from the order log: after a restart it is brought level before it serves.
  const wasReady = previous.catalog?.ready === true && previous.catalog.pid === next.catalog?.pid;
  if (next.catalog !== null && !next.catalog.ready && (previous.catalog === null || wasReady || previous.catalog.pid !== next.catalog.pid)) {
    event('rebuild', `the catalog is being brought level with the order log (${next.catalog.trades} orders applied so far)`);
  }
  if (next.catalog?.ready === true && previous.catalog !== null && !previous.catalog.ready && previous.catalog.pid === next.catalog.pid) {
    event('rebuild', `the catalog is level with the order log at ${next.catalog.trades} orders; it serves`);
  }
  next.frontends.forEach(({ health }, index) => {
    const name = frontendLabel(config, index);
    upDown(name, previous.frontends[index]?.health != null, health !== null, next.supervised?.[name.replace(' ', '-')]?.pid);
  });
  for (const replica of next.replicas) {
    const before = previous.replicas.find((other) => other.id === replica.id);
    upDown(`order replica ${replica.id}`, before?.health != null, replica.health !== null, next.supervised?.[replicaName(replica.id)]?.pid);
  }

  recoveries(next, previous, event);

  // An election, as the frontends see it: the newest epoch any of them knows rose.
  const newest = (reading: Reading): { epoch: number; leader: number | null } | undefined =>
    reading.frontends.reduce<{ epoch: number; leader: number | null } | undefined>((best, { health }) => (health !== null && (best === undefined || health.epoch > best.epoch) ? { epoch: health.epoch, leader: health.leader } : best), undefined);
  const was = newest(previous);
  const now = newest(next);
  if (was !== undefined && now !== undefined && now.epoch > was.epoch) {
    event('election', `epoch ${now.epoch}: replica ${now.leader ?? '?'} leads${was.leader === null ? '' : ` (was replica ${was.leader})`}`);
  }

  const leader = leaderOf(next);
  for (const replica of next.replicas) {
    const health = replica.health;
    const tracked = catchUps.get(replica.id);
    if (health === null || leader === undefined) {
      if (health === null) catchUps.delete(replica.id);
      continue;
    }
    const behind = replica.id === leader.id ? 0 : leader.lastNumber - health.lastNumber;
    if (behind > DASHBOARD_IN_SYNC_LAG_MAX) {
      if (tracked === undefined) catchUps.set(replica.id, { since: previous.at, behind });
      else tracked.behind = Math.max(tracked.behind, behind);
    } else if (tracked !== undefined) {
      catchUps.delete(replica.id);
      event('catch-up', `order replica ${replica.id} caught up: ${tracked.behind.toLocaleString('en-US')} orders behind at most, in sync after ${((next.at - tracked.since) / 1000).toFixed(1)} s`);
    }
  }

  // A frontend counts its first lease as a reset too (it starts with nothing to trust): not news.
  next.frontends.forEach(({ health }, index) => {
    const before = previous.frontends[index]?.health;
    if (health !== null && before !== null && before !== undefined && before.cache.resets > 0 && health.cache.resets > before.cache.resets) {
      event('cache-reset', `${frontendLabel(config, index)} dropped its whole cache (a push was missed): ${health.cache.resets - before.cache.resets} time(s)`);
    }
  });

  const pairs = metricPairs(previous, next);
  const parts: string[] = [];
  for (const [status, meaning] of Object.entries(REFUSALS)) {
    const count = pairs.reduce((acc, [before, after]) => acc + increase(total(before, 'bazaar_frontend_requests_total', { status }), total(after, 'bazaar_frontend_requests_total', { status })), 0);
    if (count > 0) parts.push(`${count} × ${status} ${meaning}`);
  }
  if (parts.length > 0) event('refused', `${config.frontends.length === 1 ? 'frontend' : 'frontends'} refused ${parts.join(', ')}`);
  return events;
}
