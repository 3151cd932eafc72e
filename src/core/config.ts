// The one shared config file: read once at start, validated (every message names the key), frozen,
// and passed down. Relative paths resolve against the config file's folder.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import defaultStocks from '../../config/stocks.json' with { type: 'json' };
import { ConfigError } from './errors.ts';
import { CACHE_ENTRIES_DEFAULT, CACHE_ENTRIES_MAX, CLUSTER_NAME_MAX, FRONTENDS_MAX, REPLICA_ID_MAX, STOCK_NAME_LENGTH_MAX } from './limits.ts';
import { isValidStockName } from './trade.ts';

export interface Endpoint {
  /** Where the other roles reach this one. */
  readonly host: string;
  readonly port: number;
  /** Where this role listens; defaults to `host`. */
  readonly bind: string;
  /** How other roles and clients reach it: https when the cluster has `tls` (or, for a frontend, its own `tls`). */
  readonly scheme: 'http' | 'https';
}

/** A frontend's own certificate for its public API (`frontend.tls`): absolute paths of PEM files. */
export interface PublicTls {
  readonly cert: string;
  readonly key: string;
}

export interface FrontendEndpoint extends Endpoint {
  readonly tls: PublicTls | undefined;
}

/** The cluster's mutual TLS (`tls`): the folder that holds ca.crt and each role's NAME.crt and NAME.key. */
export interface ClusterTls {
  readonly dir: string;
}

export interface ReplicaEndpoint extends Endpoint {
  readonly id: number;
}

export interface StockSeed {
  readonly name: string;
  readonly price: number;
  readonly quantity: number;
}

export interface Config {
  /** Absolute path of the file this came from, or '<inline>' for configs built in code. */
  readonly configPath: string;
  /** The cluster's name, written on every replica's disk: a disk from another cluster is refused (default "bazaar"). */
  readonly cluster: string;
  readonly dataDir: string;
  /** The first frontend: where `bazaar client` and the dashboard go unless told otherwise. */
  readonly frontend: FrontendEndpoint;
  /** Every frontend (`frontends` in the file, or the one `frontend`); the catalog pushes to each. */
  readonly frontends: readonly FrontendEndpoint[];
  readonly catalog: Endpoint & { readonly stocks: readonly StockSeed[] };
  /** Sorted by id, ascending. */
  readonly orders: readonly ReplicaEndpoint[];
  readonly cache: { readonly enabled: boolean; readonly max: number };
  readonly token: string | undefined;
  /** Mutual TLS between roles, when configured ($BAZAAR_TLS_DIR overrides its folder). */
  readonly tls: ClusterTls | undefined;
  /** Where the live dashboard listens (`bazaar dashboard`, and `bazaar up` unless told not to). */
  readonly dashboard: Endpoint;
}

export const DEFAULT_CONFIG_PATH = 'config/bazaar.json';
/** The cluster's name when the config does not give one. */
const CLUSTER_DEFAULT = 'bazaar';
/** Entries the frontend cache holds when the config does not say (the lab's setting). */
/** The dashboard when the config does not place it: loopback only. */
const DASHBOARD_DEFAULT = { host: '127.0.0.1', port: 8080, bind: '127.0.0.1' };

/** The config file to use: the flag, else $BAZAAR_CONFIG, else config/bazaar.json. */
export function resolveConfigPath(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(flag ?? env.BAZAAR_CONFIG ?? DEFAULT_CONFIG_PATH);
}

export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): Config {
  const configPath = path.resolve(file);
  let text: string;
  try {
    text = readFileSync(configPath, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config file ${configPath}: ${(error as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`config file ${configPath} is not valid JSON: ${(error as Error).message}`);
  }
  return parseConfig(raw, { configPath, env });
}

type Obj = Record<string, unknown>;

function expectObject(value: unknown, key: string): Obj {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(`config key "${key}" must be an object`);
  }
  return value as Obj;
}

function rejectUnknownKeys(object: Obj, allowed: readonly string[], key: string): void {
  for (const name of Object.keys(object)) {
    if (!allowed.includes(name)) {
      const where = key === '' ? name : `${key}.${name}`;
      throw new ConfigError(`unknown config key "${where}"; allowed here: ${allowed.join(', ')}`);
    }
  }
}

function expectString(value: unknown, key: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new ConfigError(`config key "${key}" must be a non-empty string`);
  return value;
}

function expectInteger(value: unknown, key: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`config key "${key}" must be an integer from ${min} to ${max}`);
  }
  return value;
}

function expectHost(value: unknown, key: string): string {
  const host = expectString(value, key);
  if (host.length > 253 || /[\s/?#@]/.test(host)) throw new ConfigError(`config key "${key}" must be a host name or IP address`);
  return host;
}

type Place = Omit<Endpoint, 'scheme'>;

function parseEndpoint(value: unknown, key: string, extra: readonly string[] = []): Place & { raw: Obj } {
  const object = expectObject(value, key);
  rejectUnknownKeys(object, ['host', 'port', 'bind', ...extra], key);
  const host = expectHost(object.host, `${key}.host`);
  const port = expectInteger(object.port, `${key}.port`, 1, 65535);
  const bind = object.bind === undefined ? host : expectHost(object.bind, `${key}.bind`);
  return { host, port, bind, raw: object };
}

/** A frontend's `tls` key: its own certificate and key for HTTPS on the public API. */
function parsePublicTls(value: unknown, key: string, configDir: string): PublicTls | undefined {
  if (value === undefined) return undefined;
  const object = expectObject(value, key);
  rejectUnknownKeys(object, ['cert', 'key'], key);
  return { cert: path.resolve(configDir, expectString(object.cert, `${key}.cert`)), key: path.resolve(configDir, expectString(object.key, `${key}.key`)) };
}

function parseClusterTls(value: unknown, configDir: string, env: NodeJS.ProcessEnv): ClusterTls | undefined {
  // systemd passes the files as credentials (docs/deploy.md): their folder is known only at start.
  if (env.BAZAAR_TLS_DIR !== undefined && env.BAZAAR_TLS_DIR !== '') return { dir: path.resolve(env.BAZAAR_TLS_DIR) };
  if (value === undefined) return undefined;
  const object = expectObject(value, 'tls');
  rejectUnknownKeys(object, ['dir'], 'tls');
  return { dir: path.resolve(configDir, expectString(object.dir, 'tls.dir')) };
}

export function parseStocks(value: unknown, key: string): StockSeed[] {
  if (!Array.isArray(value) || value.length === 0) throw new ConfigError(`${key} must be a non-empty array of stocks`);
  const names = new Set<string>();
  return value.map((item, index) => {
    const at = `${key}[${index}]`;
    const object = expectObject(item, at);
    rejectUnknownKeys(object, ['name', 'price', 'quantity'], at);
    const name = expectString(object.name, `${at}.name`);
    if (!isValidStockName(name)) {
      throw new ConfigError(`config key "${at}.name" must be at most ${STOCK_NAME_LENGTH_MAX} letters, digits, "_", "." or "-", starting with a letter or digit`);
    }
    if (names.has(name)) throw new ConfigError(`config key "${at}.name": stock ${name} is listed twice`);
    names.add(name);
    const price = object.price;
    if (typeof price !== 'number' || !Number.isFinite(price) || price <= 0) {
      throw new ConfigError(`config key "${at}.price" must be a positive number`);
    }
    const quantity = expectInteger(object.quantity, `${at}.quantity`, 0, Number.MAX_SAFE_INTEGER);
    return { name, price, quantity };
  });
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

export function parseConfig(raw: unknown, options: { configPath: string; env?: NodeJS.ProcessEnv }): Config {
  const env = options.env ?? process.env;
  const configDir = path.dirname(options.configPath);
  const root = expectObject(raw, '(root)');
  rejectUnknownKeys(root, ['cluster', 'dataDir', 'frontend', 'frontends', 'catalog', 'orders', 'cache', 'token', 'tls', 'dashboard'], '');
  const cluster = root.cluster === undefined ? CLUSTER_DEFAULT : expectString(root.cluster, 'cluster');
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(cluster) || cluster.length > CLUSTER_NAME_MAX) {
    throw new ConfigError(`config key "cluster" must be 1 to ${CLUSTER_NAME_MAX} letters, digits, dots, dashes or underscores, starting with a letter or digit`);
  }

  const dataDir = path.resolve(configDir, root.dataDir === undefined ? 'data' : expectString(root.dataDir, 'dataDir'));
  const tls = parseClusterTls(root.tls, configDir, env);
  const scheme: Endpoint['scheme'] = tls === undefined ? 'http' : 'https';
  if (root.frontend !== undefined && root.frontends !== undefined) throw new ConfigError('config keys "frontend" and "frontends" cannot both be given; list every frontend under "frontends"');
  const parseFrontend = (item: unknown, key: string): FrontendEndpoint => {
    const { raw, ...endpoint } = parseEndpoint(item, key, ['tls']);
    const publicTls = parsePublicTls(raw.tls, `${key}.tls`, configDir);
    return { ...endpoint, scheme: publicTls === undefined ? scheme : 'https', tls: publicTls };
  };
  let frontends: FrontendEndpoint[];
  if (root.frontends !== undefined) {
    if (!Array.isArray(root.frontends) || root.frontends.length === 0 || root.frontends.length > FRONTENDS_MAX) throw new ConfigError(`config key "frontends" must be a non-empty array of at most ${FRONTENDS_MAX} frontends`);
    frontends = root.frontends.map((item, index) => parseFrontend(item, `frontends[${index}]`));
  } else {
    frontends = [parseFrontend(root.frontend, 'frontend')];
  }
  const frontend = frontends[0]!;
  const { raw: catalogRaw, ...catalogPlace } = parseEndpoint(root.catalog, 'catalog', ['stocks']);
  const catalogEndpoint: Endpoint = { ...catalogPlace, scheme };

  let stocks: StockSeed[];
  if (catalogRaw.stocks === undefined) {
    stocks = parseStocks(defaultStocks, 'the default stock list');
  } else {
    const stocksPath = path.resolve(configDir, expectString(catalogRaw.stocks, 'catalog.stocks'));
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(stocksPath, 'utf8'));
    } catch (error) {
      throw new ConfigError(`config key "catalog.stocks": cannot read ${stocksPath}: ${(error as Error).message}`);
    }
    stocks = parseStocks(parsed, `stock list ${stocksPath}`);
  }

  if (!Array.isArray(root.orders) || root.orders.length === 0) {
    throw new ConfigError('config key "orders" must be a non-empty array of order replicas');
  }
  const orders = root.orders.map((item, index) => {
    const key = `orders[${index}]`;
    const { raw, ...endpoint } = parseEndpoint(item, key, ['id']);
    return { id: expectInteger(raw.id, `${key}.id`, 1, REPLICA_ID_MAX), ...endpoint, scheme };
  });
  const ids = new Set<number>();
  for (const [index, replica] of orders.entries()) {
    if (ids.has(replica.id)) throw new ConfigError(`config key "orders[${index}].id": id ${replica.id} is used twice`);
    ids.add(replica.id);
  }
  orders.sort((a, b) => a.id - b.id);

  let dashboard: Endpoint = { ...DASHBOARD_DEFAULT, scheme };
  if (root.dashboard !== undefined) {
    const { raw: _dashboardRaw, ...endpoint } = parseEndpoint(root.dashboard, 'dashboard');
    dashboard = { ...endpoint, scheme };
  }

  const listeners: Array<[string, Endpoint]> = [
    ...frontends.map((endpoint, index): [string, Endpoint] => [root.frontends === undefined ? 'frontend' : `frontends[${index}]`, endpoint]),
    ...(root.dashboard === undefined ? [] : [['dashboard', dashboard] as [string, Endpoint]]),
    ['catalog', catalogEndpoint],
    ...orders.map((replica): [string, Endpoint] => [`orders (id ${replica.id})`, replica]),
  ];
  const seen = new Map<string, string>();
  for (const [key, endpoint] of listeners) {
    const address = `${endpoint.host}:${endpoint.port}`;
    const other = seen.get(address);
    if (other !== undefined) throw new ConfigError(`config key "${key}.port": ${address} is already used by ${other}`);
    seen.set(address, key);
  }

  let cache = { enabled: true, max: CACHE_ENTRIES_DEFAULT };
  if (root.cache !== undefined) {
    const object = expectObject(root.cache, 'cache');
    rejectUnknownKeys(object, ['enabled', 'max'], 'cache');
    if (object.enabled !== undefined && typeof object.enabled !== 'boolean') {
      throw new ConfigError('config key "cache.enabled" must be true or false');
    }
    cache = {
      enabled: object.enabled ?? true,
      max: object.max === undefined ? CACHE_ENTRIES_DEFAULT : expectInteger(object.max, 'cache.max', 1, CACHE_ENTRIES_MAX),
    };
  }

  let token: string | undefined;
  if (env.BAZAAR_TOKEN !== undefined && env.BAZAAR_TOKEN !== '') token = env.BAZAAR_TOKEN;
  else if (root.token !== undefined) token = expectString(root.token, 'token');

  return deepFreeze({
    configPath: options.configPath,
    cluster,
    dataDir,
    frontend,
    frontends,
    catalog: { ...catalogEndpoint, stocks },
    orders,
    cache,
    token,
    tls,
    dashboard,
  });
}

/**
 * Why the internal endpoints are open to anyone who reaches this role's port, or undefined when they
 * are not: no token is configured and the role listens beyond loopback.
 */
export function openInternalsWarning(config: Config, endpoint: Endpoint): string | undefined {
  if (config.token !== undefined) return undefined;
  if (isLoopback(endpoint.bind)) return undefined;
  return `no cluster token is configured and this role listens on ${endpoint.bind}: its internal endpoints are open to anyone who can reach it; set "token" in the config (or BAZAAR_TOKEN)`;
}

/**
 * Why what this role says and hears crosses the network in clear text, or undefined when it does
 * not: the cluster has no `tls` and the role listens beyond loopback.
 */
export function clearTextWarning(config: Config, endpoint: Endpoint): string | undefined {
  if (config.tls !== undefined || isLoopback(endpoint.bind)) return undefined;
  return `no "tls" is configured and this role listens on ${endpoint.bind}: its calls to and from other roles (orders, the token) cross the network in clear text; make certificates with \`bazaar certs\` and set "tls" in the config (docs/security.md)`;
}

/** What a role listening at `endpoint` warns of at start: internals open without a token, clear text without TLS. */
export function listenerWarnings(config: Config, endpoint: Endpoint): string[] {
  return [openInternalsWarning(config, endpoint), clearTextWarning(config, endpoint)].filter((warning): warning is string => warning !== undefined);
}

function isLoopback(bind: string): boolean {
  return /^(127\.|localhost$|::1$|\[::1\]$)/.test(bind);
}

export function findReplica(config: Config, id: number): ReplicaEndpoint {
  const replica = config.orders.find((candidate) => candidate.id === id);
  if (replica === undefined) {
    throw new ConfigError(`no order replica with id ${id} in ${config.configPath}; configured ids: ${config.orders.map((r) => r.id).join(', ')}`);
  }
  return replica;
}

export function baseUrl(endpoint: Endpoint): string {
  const host = endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host;
  return `${endpoint.scheme}://${host}:${endpoint.port}`;
}

/**
 * A frontend's name for people (status tables, the dashboard): "frontend" when the config has one,
 * else "frontend N" from 1. `bazaar up` names its process the same, with a hyphen ("frontend-2").
 */
/** Replica `id`'s process name: bazaar up's child, its data folder, and admin's and the dashboard's handle on it. */
export function replicaName(id: number): string {
  return `order-${id}`;
}

export function frontendLabel(config: Config, index: number): string {
  return config.frontends.length === 1 ? 'frontend' : `frontend ${index + 1}`;
}

/** A frontend's name in the cluster (`host:port` as the config gives it): the catalog's push link to it, and the origin its trades carry. */
export function frontendName(endpoint: Endpoint): string {
  return `${endpoint.host}:${endpoint.port}`;
}
