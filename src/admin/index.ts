// `bazaar admin status | crash | recover`: operate a running cluster from its config.
import { setTimeout as sleep } from 'node:timers/promises';
import { type Config, type Endpoint, findReplica, frontendLabel, replicaName } from '../core/config.ts';
import { BazaarError } from '../core/errors.ts';
import { ADMIN_CALL_TIMEOUT_MS, ADMIN_CRASH_POLL_MS, CHILD_READY_TIMEOUT_MS, ONE_OFF_CONNECTIONS_MAX } from '../core/limits.ts';
import { dataOf } from '../http/client.ts';
import { Dialer } from '../http/dial.ts';
import { ADMIN_CERT, CATALOG_CERT, frontendCertName, replicaCertName } from '../tls/names.ts';
import { recoverRole } from '../protocol/control.ts';
import { send } from '../http/message.ts';
import { CRASH } from '../protocol/orders.ts';
import { type CatalogHealth, type FrontendHealth, type OrderHealth, parseCatalogHealth, parseFrontendHealth, parseOrderHealth } from '../protocol/health.ts';
import { majorityOf } from '../core/quorum.ts';

export interface RoleStatus<H> {
  readonly role: string;
  readonly address: string;
  readonly up: boolean;
  /** The role's own health data when it answered in the shape its protocol says. */
  readonly health: H | null;
}

export interface ClusterStatus {
  readonly catalog: RoleStatus<CatalogHealth>;
  /** The first frontend (the config's `frontend`, or the first of `frontends`). */
  readonly frontend: RoleStatus<FrontendHealth>;
  readonly frontends: readonly RoleStatus<FrontendHealth>[];
  readonly orders: readonly (RoleStatus<OrderHealth> & { readonly id: number })[];
}

async function health<H>(role: string, endpoint: Endpoint, peer: string, dialer: Dialer, parse: (data: unknown) => H): Promise<RoleStatus<H>> {
  const upstream = dialer.http(role, endpoint, peer, ONE_OFF_CONNECTIONS_MAX);
  const address = `${endpoint.host}:${endpoint.port}`;
  try {
    const reply = await upstream.call('GET', '/health', undefined, { timeoutMs: ADMIN_CALL_TIMEOUT_MS });
    if (reply.status !== 200) return { role, address, up: false, health: null };
    let parsed: H | null = null;
    try {
      parsed = parse(dataOf(reply, `${role} health`));
    } catch {
      // It answers, but not as this build expects (another version?): up, with no details.
    }
    return { role, address, up: true, health: parsed };
  } catch {
    return { role, address, up: false, health: null };
  } finally {
    await upstream.close();
  }
}

export async function status(config: Config, dialer = Dialer.forRole(config, ADMIN_CERT)): Promise<ClusterStatus> {
  const [catalog, frontends, orders] = await Promise.all([
    health('catalog', config.catalog, CATALOG_CERT, dialer, parseCatalogHealth),
    Promise.all(config.frontends.map((endpoint, index) => health(frontendLabel(config, index), endpoint, frontendCertName(index + 1), dialer, parseFrontendHealth))),
    Promise.all(config.orders.map((replica) => health(`order ${replica.id}`, replica, replicaCertName(replica.id), dialer, parseOrderHealth))),
  ]);
  return { catalog, frontend: frontends[0]!, frontends, orders: orders.map((order, index) => ({ ...order, id: config.orders[index]!.id })) };
}

/** Whether every role of the cluster answered and no replica is recovering a lost disk. */
export function healthy(cluster: ClusterStatus): boolean {
  return cluster.catalog.up && cluster.frontends.every((frontend) => frontend.up) && cluster.orders.every((order) => order.up && order.health?.state !== 'recovering');
}

/** What each recovering replica is doing, and whether the lost disks are a majority (then the service cannot go on). */
export function recoveryLines(cluster: ClusterStatus): string[] {
  const recovering = cluster.orders.filter((order) => order.health?.state === 'recovering');
  const lines = recovering.map((order) => {
    const recovery = order.health!.recovery;
    if (recovery?.phase === 'copying') return `${order.role} is recovering a lost disk: copying replica ${recovery.leaderId}'s log, ${order.health!.lastNumber + 1} of ${recovery.target} orders; it counts toward no majority until it holds them`;
    return `${order.role} is recovering a lost disk: asking its peers where the cluster stands (it needs a majority of them sound, the leader among them)`;
  });
  if (recovering.length >= majorityOf(cluster.orders.length)) {
    lines.push(`a majority of order replicas (${recovering.map((order) => order.id).join(', ')}) lost their disks: the orders only they held cannot be recovered, and no trade is served; restore a lost data folder from a backup, or start a new cluster`);
  }
  return lines;
}

export function formatStatus(cluster: ClusterStatus): string {
  const cell = (value: unknown): string => (value === undefined || value === null ? '-' : String(value));
  const header = ['role', 'address', 'status', 'state', 'epoch', 'log epoch', 'last order', 'log bytes'];
  const rows: string[][] = [
    [cluster.catalog.role, cluster.catalog.address, cluster.catalog.up ? 'up' : 'DOWN', cluster.catalog.up ? `${cell(cluster.catalog.health?.trades)} trades` : '-', '-', '-', '-', '-'],
    ...cluster.frontends.map((frontend) => [frontend.role, frontend.address, frontend.up ? 'up' : 'DOWN', frontend.up ? `leader ${cell(frontend.health?.leader)}` : '-', cell(frontend.health?.epoch), '-', '-', '-']),
    ...cluster.orders.map((order) => {
      const data = order.health;
      const state = data?.state === 'leader' && !data.serving ? 'leader (starting)' : cell(data?.state);
      return [order.role, order.address, order.up ? 'up' : 'DOWN', order.up ? state : '-', cell(data?.epoch), cell(data?.logEpoch), cell(data?.lastNumber), cell(data?.logBytes)];
    }),
  ];
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const table = [header, ...rows].map((row) => row.map((value, column) => value.padEnd(widths[column]!)).join('  ').trimEnd()).join('\n');
  const cache = cluster.frontend.health?.cache;
  const cacheLine =
    cache === undefined
      ? ''
      : cache.enabled === true
        ? `frontend cache: on, ${cache.size}/${cache.max} entries, ${cache.hits} hits, ${cache.misses} misses, ${cache.evictions} evictions, ${cache.invalidations} invalidations${cache.leaseValid ? '' : ' (no lease from the catalog: lookups bypass it)'}\n`
        : 'frontend cache: off\n';
  const recovery = recoveryLines(cluster).map((line) => `${line}\n`).join('');
  return `${table}\n${cacheLine}${recovery}`;
}

/** Crashes replica `id` for real (it sends itself SIGKILL) and waits until it no longer answers. */
export async function crash(config: Config, id: number, dialer = Dialer.forRole(config, ADMIN_CERT)): Promise<void> {
  const replica = findReplica(config, id);
  // A replica that does not answer cannot be crashed: say so, rather than report a crash that did not happen.
  const peer = replicaCertName(id);
  if (!(await health(`order ${id}`, replica, peer, dialer, parseOrderHealth)).up) {
    throw new Error(`order replica ${id} is down already: nothing answers ${replica.host}:${replica.port}`);
  }
  const upstream = dialer.http(`order replica ${id}`, replica, peer, ONE_OFF_CONNECTIONS_MAX);
  try {
    try {
      await send(upstream, CRASH, {}, `order replica ${id} refused to crash`, { timeoutMs: ADMIN_CALL_TIMEOUT_MS });
    } catch (error) {
      // The process may die before its reply is out; whether it is gone is checked below.
      if (!(error instanceof BazaarError) || error.code !== 'UPSTREAM_UNAVAILABLE') throw error;
    }
  } finally {
    await upstream.close();
  }
  const deadline = Date.now() + CHILD_READY_TIMEOUT_MS;
  while ((await health(`order ${id}`, replica, peer, dialer, parseOrderHealth)).up) {
    if (Date.now() > deadline) throw new Error(`order replica ${id} still answers after the crash request`);
    await sleep(ADMIN_CRASH_POLL_MS);
  }
}

/** Asks the local `bazaar up` to start replica `id` again; resolves with the new PID once it answers. */
export async function recover(config: Config, id: number): Promise<number> {
  findReplica(config, id);
  try {
    return await recoverRole(config, replicaName(id));
  } catch (error) {
    if (error instanceof BazaarError && error.code === 'UPSTREAM_UNAVAILABLE') throw new Error(`${error.message}: systemctl start bazaar-order@${id}`);
    throw error;
  }
}
