// Real processes for integration and e2e tests: a temp data dir, a config on free loopback ports,
// roles started as child processes and stopped by PID, everything removed afterwards.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent, fetch, setGlobalDispatcher } from 'undici';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { conformance, PUBLIC_ORIGINS } from './openapi.ts';
import { loadConfig } from '../src/core/config.ts';
import { initDisks } from '../src/disk/init.ts';
import { makeCerts } from '../src/tls/certs.ts';
import { ADMIN_CERT } from '../src/tls/names.ts';

/**
 * This process's HTTP clients (fetch, undici) trust the cluster's CA in `certsDir` and show its
 * `admin` certificate, as `bazaar admin` does: a test reads a TLS cluster's roles as an operator would.
 */
export function trustCluster(certsDir: string): void {
  const read = (file: string): Buffer => readFileSync(path.join(certsDir, file));
  setGlobalDispatcher(new Agent({ connect: { ca: read('ca.crt'), cert: read(`${ADMIN_CERT}.crt`), key: read(`${ADMIN_CERT}.key`) } }));
}

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Runs the TypeScript sources (integration tier). */
export const SOURCE_COMMAND: readonly string[] = [process.execPath, '--import', 'tsx', path.join(ROOT, 'bin/bazaar.ts')];
/** Runs the bundle, as a user does (e2e tier); BAZAAR_BUNDLE names another one (bench/ab.ts runs the previous build's). */
export const BUNDLE_COMMAND: readonly string[] = [process.execPath, process.env.BAZAAR_BUNDLE ?? path.join(ROOT, 'dist/bazaar.mjs')];

const READY_TIMEOUT_MS = 20_000;
const STOP_GRACE_MS = 5_000;

/** Ports the OS hands out as free right now; each is closed again before it is returned. */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<import('node:net').Server>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve(server));
    })),
  );
  const ports = servers.map((server) => (server.address() as import('node:net').AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

export class Proc {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  output = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(name: string, child: ChildProcess) {
    this.name = name;
    this.child = child;
    this.pid = child.pid!;
    child.stdout?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** kill -9: no cleanup, no flush. */
  async crash(): Promise<void> {
    if (!this.running) return;
    process.kill(this.pid, 'SIGKILL');
    await this.exited;
  }

  /** SIGTERM, then SIGKILL if it has not exited within the grace time. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.running) {
      process.kill(this.pid, signal);
      const timer = setTimeout(() => this.running && process.kill(this.pid, 'SIGKILL'), STOP_GRACE_MS);
      await this.exited;
      clearTimeout(timer);
    }
    return this.exited;
  }

  /** Waits until a line of output matches, or the process exits, or the time runs out. */
  async waitFor(pattern: RegExp, timeoutMs = READY_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.output)) {
      if (!this.running) throw new Error(`${this.name} exited before printing ${pattern}:\n${this.output}`);
      if (Date.now() > deadline) throw new Error(`${this.name} did not print ${pattern} in ${timeoutMs} ms:\n${this.output}`);
      await sleep(20);
    }
  }
}

export interface ClusterOptions {
  readonly replicas?: number;
  readonly token?: string;
  readonly extra?: Record<string, unknown>;
  readonly command?: readonly string[];
  /** Initialise the replicas' disks as a new cluster, as `bazaar up` and `bazaar init` do (default true). */
  readonly init?: boolean;
  /**
   * The cluster's mutual TLS: `bazaar certs` is run into DIR/certs and the config gets `tls`. This
   * test process's fetch and undici then trust the cluster's CA and show the `admin` certificate.
   */
  readonly tls?: boolean;
}

export class TestCluster {
  readonly dir: string;
  readonly configPath: string;
  readonly dataDir: string;
  readonly ports: { frontend: number; catalog: number; dashboard: number; orders: Map<number, number> };
  readonly command: readonly string[];
  /** Where `bazaar certs` wrote the cluster's certificates, with `tls`. */
  readonly certsDir: string;
  scheme: 'http' | 'https' = 'http';
  /** The frontend's own scheme: https once it has a public certificate (givePublicCertificate). */
  private frontendScheme: 'http' | 'https' = 'http';
  private readonly procs: Proc[] = [];

  private constructor(dir: string, ports: TestCluster['ports'], command: readonly string[]) {
    this.dir = dir;
    this.certsDir = path.join(dir, 'certs');
    this.configPath = path.join(dir, 'bazaar.json');
    this.dataDir = path.join(dir, 'data');
    this.ports = ports;
    this.command = command;
  }

  static async create(options: ClusterOptions = {}): Promise<TestCluster> {
    const replicas = options.replicas ?? 3;
    const dir = await mkdtemp(path.join(tmpdir(), 'bazaar-test-'));
    const [frontend, catalog, dashboard, ...orderPorts] = await freePorts(3 + replicas);
    const ports = { frontend: frontend!, catalog: catalog!, dashboard: dashboard!, orders: new Map(orderPorts.map((port, index) => [index + 1, port])) };
    const cluster = new TestCluster(dir, ports, options.command ?? SOURCE_COMMAND);
    const config = {
      dataDir: 'data',
      frontend: { host: '127.0.0.1', port: ports.frontend },
      catalog: { host: '127.0.0.1', port: ports.catalog },
      orders: [...ports.orders].map(([id, port]) => ({ id, host: '127.0.0.1', port })),
      cache: { enabled: true, max: 100 },
      // An A/B may run a build from before the dashboard key (bench/ab.ts says so); that build would
      // refuse the key, and a newer one then serves its dashboard on the default port.
      ...(process.env.BAZAAR_CONFIG_WITHOUT_DASHBOARD === '1' ? {} : { dashboard: { host: '127.0.0.1', port: ports.dashboard } }),
      ...(options.token === undefined ? {} : { token: options.token }),
      ...(options.tls === true ? { tls: { dir: 'certs' } } : {}),
      ...options.extra,
    };
    await writeFile(cluster.configPath, JSON.stringify(config, null, 2));
    if (options.tls === true) {
      cluster.scheme = 'https';
      cluster.frontendScheme = 'https';
      await makeCerts(loadConfig(cluster.configPath), { dir: cluster.certsDir, days: 1, caDays: 1 });
      trustCluster(cluster.certsDir);
    }
    if (options.init !== false) await initDisks(loadConfig(cluster.configPath), [...ports.orders.keys()]);
    // Every reply from a frontend of this cluster is checked against the OpenAPI document (http()).
    const frontends = (config as { frontends?: Array<{ host: string; port: number }> }).frontends ?? [config.frontend];
    for (const endpoint of frontends) if (endpoint !== undefined) PUBLIC_ORIGINS.add(`${cluster.scheme}://${endpoint.host}:${endpoint.port}`);
    return cluster;
  }

  url(role: 'frontend' | 'catalog' | 'dashboard' | number): string {
    const port = role === 'frontend' ? this.ports.frontend : role === 'catalog' ? this.ports.catalog : role === 'dashboard' ? this.ports.dashboard : this.ports.orders.get(role);
    return `${role === 'frontend' ? this.frontendScheme : this.scheme}://127.0.0.1:${port}`;
  }

  /** Gives the (first) frontend its own public certificate (`frontend.tls`), before it starts: it then serves HTTPS. */
  async givePublicCertificate(files: { cert: string; key: string }): Promise<void> {
    const config = JSON.parse(await readFile(this.configPath, 'utf8')) as { frontend: Record<string, unknown> };
    config.frontend.tls = files;
    await writeFile(this.configPath, JSON.stringify(config, null, 2));
    this.frontendScheme = 'https';
  }

  orderLogPath(id: number): string {
    return path.join(this.dataDir, `order-${id}`, 'orders.jsonl');
  }

  /** Starts `bazaar <args> --config <this config>` and returns at once. */
  spawn(args: readonly string[], env: Record<string, string> = {}): Proc {
    const [command, ...leading] = this.command;
    const child = spawn(command!, [...leading, ...args, '--config', this.configPath], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, BAZAAR_CONFIG: '', ...env },
    });
    const proc = new Proc(args.join(' '), child);
    this.procs.push(proc);
    return proc;
  }

  /** Starts a role and waits until its health endpoint answers. */
  async start(role: 'catalog' | 'frontend' | number): Promise<Proc> {
    const args = typeof role === 'number' ? ['order', '--id', String(role)] : [role];
    const proc = this.spawn(args);
    await waitHealthy(this.url(role), proc);
    return proc;
  }

  /** Catalog and every replica, then the frontend. */
  async startAll(): Promise<{ catalog: Proc; orders: Map<number, Proc>; frontend: Proc }> {
    const ids = [...this.ports.orders.keys()];
    const [catalog, ...orders] = await Promise.all([this.start('catalog'), ...ids.map((id) => this.start(id))]);
    const frontend = await this.start('frontend');
    // The catalog serves once the leader the frontend chose has brought it level with the order log.
    await waitCatalogReady(this.url('catalog'), catalog);
    return { catalog: catalog!, orders: new Map(ids.map((id, index) => [id, orders[index]!])), frontend };
  }

  /** Stops every process this cluster started, by PID, and removes the temp dir. */
  async destroy(): Promise<void> {
    await Promise.all(this.procs.map((proc) => proc.stop()));
    await rm(this.dir, { recursive: true, force: true });
  }
}

/**
 * Waits until a role's health endpoint answers 200 and, with `accept`, says what it is waited for;
 * fails at once if `proc` exits meanwhile.
 */
export async function waitHealthy(baseUrl: string, proc?: Proc, timeoutMs = READY_TIMEOUT_MS, accept: (data: Record<string, unknown>) => boolean = () => true, what = 'healthy'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc !== undefined && !proc.running) throw new Error(`${proc.name} exited before it was ${what}:\n${proc.output}`);
    try {
      const reply = await fetch(`${baseUrl}/health`, { signal: AbortSignal.timeout(500) });
      if (reply.ok && accept(((await reply.json()) as { data: Record<string, unknown> }).data)) return;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) throw new Error(`${baseUrl} was not ${what} within ${timeoutMs} ms${proc ? `:\n${proc.output}` : ''}`);
    await sleep(50);
  }
}

/** Waits until the catalog is level with the order log (its health says `ready`). */
export function waitCatalogReady(baseUrl: string, proc?: Proc, timeoutMs = READY_TIMEOUT_MS): Promise<void> {
  // A build from before the catalog was derived from the log has no `ready`: it serves at once.
  return waitHealthy(baseUrl, proc, timeoutMs, (data) => data.ready !== false, 'level with the order log');
}

/** The PID a role's health reports; undefined while nothing answers. */
export async function pidOf(url: string): Promise<number | undefined> {
  try {
    const reply = await http(`${url}/health`, { timeoutMs: 1_000 });
    return reply.status === 200 ? (reply.body as { data: { pid: number } }).data.pid : undefined;
  } catch {
    return undefined;
  }
}

export interface JsonReply {
  readonly status: number;
  readonly headers: Headers;
  readonly body: unknown;
  readonly text: string;
}

/** One HTTP request with a deadline; the reply body parsed as JSON where it is JSON. */
export async function http(
  url: string,
  init: { method?: string; body?: string; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<JsonReply> {
  const reply = await fetch(url, {
    method: init.method ?? 'GET',
    body: init.body,
    headers: init.headers,
    signal: AbortSignal.timeout(init.timeoutMs ?? 10_000),
  });
  const text = await reply.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON; keep the text.
  }
  const target = new URL(url);
  if (PUBLIC_ORIGINS.has(target.origin)) {
    const problems = conformance(init.method ?? 'GET', target, reply.status, reply.headers, body);
    if (problems.length > 0) throw new assert.AssertionError({ message: `the reply does not conform to src/frontend/openapi.json:\n${problems.join('\n')}` });
  }
  return { status: reply.status, headers: reply.headers, body, text };
}

export function postOrder(frontend: string, order: unknown, headers: Record<string, string> = {}): Promise<JsonReply> {
  return http(`${frontend}/orders`, {
    method: 'POST',
    body: JSON.stringify(order),
    headers: { 'content-type': 'application/json', ...headers },
  });
}

/** The PIDs `bazaar up` printed on the `pids:` line of its banner, by role name (catalog, order-1, frontend, …). */
export function childPids(output: string): Map<string, number> {
  const line = /pids:\s+(.*)/.exec(output)?.[1] ?? '';
  return new Map(line.split(', ').map((part) => [part.split(' ')[0]!, Number(part.split(' ')[1])]));
}
