// Who is who in the cluster's mutual TLS. Every role's certificate names the role (its subject's CN:
// `catalog`, `order-2`, `frontend-1`, `dashboard`, `admin`) and the cluster (its O, the config's
// `cluster`), and is signed by the cluster's CA. A role accepts a peer only if all three hold; the
// files in the TLS folder are named after the same names (ca.crt, order-2.crt, order-2.key).
import { type Config, replicaName } from '../core/config.ts';

export const CA_CERT_FILE = 'ca.crt';
/** The CA's private key: it stays with the operator (it signs new certificates), never on a role's host. */
export const CA_KEY_FILE = 'ca.key';
export const CATALOG_CERT = 'catalog';
export const DASHBOARD_CERT = 'dashboard';
/** `bazaar admin` and `bazaar up` (which checks its children's health) call the roles with this one. */
export const ADMIN_CERT = 'admin';
/** For a Prometheus server that scrapes the roles' /metrics (roles/prometheus.yml). */
export const PROMETHEUS_CERT = 'prometheus';

/**
 * The name every frontend's certificate carries besides its host, so that a load balancer in front of
 * several can check them all under one name (roles/nginx-bazaar.conf: proxy_ssl_name).
 */
export function frontendsName(cluster: string): string {
  return `frontends.${cluster}`;
}

/** Frontend `index` (from 1, as `bazaar frontend --index`) of the config. */
export function frontendCertName(index: number): string {
  return `frontend-${index}`;
}

/** Replica `id`'s certificate: the same name as its process and data folder. */
export function replicaCertName(id: number): string {
  return replicaName(id);
}

export interface CertHolder {
  /** The certificate's name (its CN, and its files' names). */
  readonly name: string;
  /** Who holds it, for people: "order replica 2". */
  readonly who: string;
  /** Where it is reached (the config's host and bind): its certificate's subject alternative names. Empty for a caller only. */
  readonly hosts: readonly string[];
}

/** Every certificate the config's cluster needs, in the order `bazaar certs` lists them. */
export function certHolders(config: Config): CertHolder[] {
  const hosts = (endpoint: { host: string; bind: string }): string[] => [...new Set([endpoint.host, endpoint.bind].filter((host) => host !== '0.0.0.0' && host !== '::'))];
  return [
    { name: CATALOG_CERT, who: 'the catalog', hosts: hosts(config.catalog) },
    ...config.orders.map((replica) => ({ name: replicaCertName(replica.id), who: `order replica ${replica.id}`, hosts: hosts(replica) })),
    ...config.frontends.map((endpoint, index) => ({ name: frontendCertName(index + 1), who: config.frontends.length === 1 ? 'the frontend' : `frontend ${index + 1}`, hosts: [...hosts(endpoint), frontendsName(config.cluster)] })),
    { name: DASHBOARD_CERT, who: 'the dashboard', hosts: hosts(config.dashboard) },
    { name: ADMIN_CERT, who: '`bazaar admin` and `bazaar up`', hosts: [] },
    { name: PROMETHEUS_CERT, who: 'a Prometheus server scraping /metrics', hosts: [] },
  ];
}

/** The names a peer's certificate may carry to be let in: the roles of this config. */
export function clusterNames(config: Config): ReadonlySet<string> {
  return new Set(certHolders(config).map((holder) => holder.name));
}

/** CN and O of a subject as `X509Certificate.subject` prints it ("CN=order-1\nO=bazaar"). */
export function subjectOf(text: string): { cn: string | undefined; o: string | undefined } {
  const fields = new Map(text.split('\n').map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
  return { cn: fields.get('CN'), o: fields.get('O') };
}
