// One reading of the whole cluster, as the dashboard samples it: every role's /health, the
// frontend's /metrics, the catalog's stocks, and the PIDs the local `bazaar up` knows. A role that
// does not answer within DASHBOARD_SCRAPE_TIMEOUT_MS (down, or hung) reads as down.
import type { Config } from '../core/config.ts';
import type { Dialer } from '../http/dial.ts';
import { CATALOG_CERT, frontendCertName, replicaCertName } from '../tls/names.ts';
import { DASHBOARD_SCRAPE_TIMEOUT_MS, ONE_OFF_CONNECTIONS_MAX } from '../core/limits.ts';
import { dataOf, Upstream } from '../http/client.ts';
import { type CatalogHealth, type FrontendHealth, type OrderHealth, parseCatalogHealth, parseFrontendHealth, parseOrderHealth } from '../protocol/health.ts';
import type { StockRow } from '../protocol/dashboard.ts';
import type { OrderEntry } from '../core/trade.ts';
import { ENTRIES } from '../protocol/replication.ts';
import { LIST_STOCKS } from '../protocol/catalog.ts';
import { send } from '../http/message.ts';
import { type Supervised, supervised } from '../protocol/control.ts';
import { parseMetrics, type Sample } from './prometheus.ts';

export interface Reading {
  readonly at: number;
  readonly catalog: CatalogHealth | null;
  readonly stocks: readonly StockRow[] | null;
  /** Every frontend of the config, in order: its health and metrics, null where it did not answer. */
  readonly frontends: ReadonlyArray<{ readonly health: FrontendHealth | null; readonly metrics: readonly Sample[] | null }>;
  /** By replica id, in config order; null for one that did not answer. */
  readonly replicas: ReadonlyArray<{ readonly id: number; readonly health: OrderHealth | null }>;
  /** Undefined when no `bazaar up` runs on this config's data dir. */
  readonly supervised: Supervised | undefined;
}

const options = { timeoutMs: DASHBOARD_SCRAPE_TIMEOUT_MS };

async function orNull<T>(work: () => Promise<T>): Promise<T | null> {
  try {
    return await work();
  } catch {
    return null;
  }
}

export class ClusterReader {
  private readonly config: Config;
  private readonly catalog: Upstream;
  private readonly frontends: Upstream[];
  private readonly replicas: Map<number, Upstream>;

  constructor(config: Config, dialer: Dialer) {
    this.config = config;
    this.catalog = dialer.http('catalog', config.catalog, CATALOG_CERT, ONE_OFF_CONNECTIONS_MAX);
    this.frontends = config.frontends.map((endpoint, index) => dialer.http(`frontend ${index + 1}`, endpoint, frontendCertName(index + 1), ONE_OFF_CONNECTIONS_MAX));
    this.replicas = new Map(config.orders.map((replica) => [replica.id, dialer.http(`order replica ${replica.id}`, replica, replicaCertName(replica.id), ONE_OFF_CONNECTIONS_MAX)]));
  }

  async read(): Promise<Reading> {
    const [catalog, stocks, frontends, replicas, pids] = await Promise.all([
      orNull(async () => parseCatalogHealth(dataOf(await this.catalog.call('GET', '/health', undefined, options), 'catalog health'))),
      orNull(() => send(this.catalog, LIST_STOCKS, undefined, 'catalog stocks', options)),
      Promise.all(
        this.frontends.map(async (upstream) => {
          const [health, metrics] = await Promise.all([
            orNull(async () => parseFrontendHealth(dataOf(await upstream.call('GET', '/health', undefined, options), 'frontend health'))),
            orNull(async () => parseMetrics(await upstream.text('/metrics', options))),
          ]);
          return { health, metrics };
        }),
      ),
      Promise.all(
        [...this.replicas].map(async ([id, upstream]) => ({ id, health: await orNull(async () => parseOrderHealth(dataOf(await upstream.call('GET', '/health', undefined, options), `replica ${id} health`))) })),
      ),
      supervised(this.config, DASHBOARD_SCRAPE_TIMEOUT_MS),
    ]);
    return { at: Date.now(), catalog, stocks, frontends, replicas, supervised: pids };
  }

  /** Committed entries of the order log from `from`, read from replica `id` (the leader). */
  async entries(id: number, from: number, limit: number): Promise<OrderEntry[]> {
    const upstream = this.replicas.get(id);
    if (upstream === undefined) return [];
    return send(upstream, ENTRIES, { from, limit }, `replica ${id} entries`, options);
  }

  async close(): Promise<void> {
    await Promise.all([this.catalog.close(), ...this.frontends.map((upstream) => upstream.close()), ...[...this.replicas.values()].map((upstream) => upstream.close())]);
  }
}
