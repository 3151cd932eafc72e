// `bazaar up`: every role of the config as a child process of this one, each started with the same
// bazaar entry point, its output prefixed with its name, ready once every role answers its health check.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, unlink } from 'node:fs/promises';
import { initIfNew } from '../disk/init.ts';
import { createConnection } from 'node:net';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { baseUrl, type Config, type Endpoint, frontendLabel, replicaName } from '../core/config.ts';
import { type Handle, SUPERVISED_ENV, fatalSignal, idempotent } from '../core/lifecycle.ts';
import {
  CHILD_OUTPUT_TAIL_LINES,
  CHILD_READY_POLL_MS,
  CHILD_READY_TIMEOUT_MS,
  CHILD_STOP_GRACE_MS,
  RESTART_BACKOFF_MS_MAX,
  RESTART_BACKOFF_MS_MIN,
  RESTART_STABLE_MS,
  UP_HEALTH_TIMEOUT_MS,
  ONE_OFF_CONNECTIONS_MAX,
} from '../core/limits.ts';
import { BazaarError } from '../core/errors.ts';
import { createLogger, type Logger } from '../core/logger.ts';
import { dataPaths } from '../core/paths.ts';
import type { Upstream } from '../http/client.ts';
import { Dialer } from '../http/dial.ts';
import { createJsonServer, type JsonServer } from '../http/server.ts';
import { ADMIN_CERT, CATALOG_CERT, frontendCertName, replicaCertName } from '../tls/names.ts';
import { serve } from '../http/message.ts';
import { HANG, RECOVER, UP_HEALTH } from '../protocol/control.ts';
import { type CatalogHealth, parseCatalogHealth, parseFrontendHealth } from '../protocol/health.ts';

export interface UpOptions {
  /** Absolute path of the config file, passed on to every child. */
  readonly configPath: string;
  /** How to run this same bazaar entry point: executable and leading arguments. */
  readonly self?: readonly string[];
  /** Where prefixed child output goes. */
  readonly output?: NodeJS.WritableStream;
  /** Extra arguments for the frontend (its cache flags). */
  readonly frontendArgs?: readonly string[];
  /** Restart order replicas killed by a signal too; by default they wait for `bazaar admin recover`, as the lab's crash tests expect. */
  readonly restartReplicas?: boolean;
}

/** A role as `up` checks on it: where it listens, and the name its certificate carries (with the cluster's TLS). */
interface Place {
  readonly endpoint: Endpoint;
  readonly cert: string;
}

interface ChildSpec extends Place {
  readonly name: string;
  readonly args: readonly string[];
}

interface RunningChild {
  readonly spec: ChildSpec;
  readonly process: ChildProcess;
  readonly exited: Promise<void>;
  expectedExit: boolean;
  /** Set while the child is stopped by SIGSTOP: continues it. */
  resume: (() => void) | undefined;
  /** Its last lines of output, to say why it failed to start. */
  readonly tail: string[];
  readonly startedAt: number;
}

export interface UpHandle extends Handle {
  /** The child processes' PIDs by role name (catalog, order-1, …, frontend). */
  pids(): Record<string, number>;
  /** Starts a role again that has exited (after a crash), and resolves once it answers. */
  recover(name: string): Promise<number>;
  /** The order leader the frontends chose at start, or undefined if none was chosen in time. */
  readonly leader: ChosenLeader | undefined;
}

export interface ChosenLeader {
  readonly id: number;
  readonly epoch: number;
}

/** Whether something answers on a unix socket (another `bazaar up` on the same data dir). */
function socketAnswers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection(socketPath);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}


/** The command that runs this very entry point again, under the same loader (tsx in development). */
export function selfCommand(): string[] {
  return [process.execPath, ...process.execArgv, process.argv[1]!];
}

/**
 * Who answers the role's health check: the PID its reply names (null if it names none), or
 * undefined when nothing answers. Readiness is the child's own PID answering, never just the port:
 * another process on that port must not make a role that failed to start look up.
 */
async function whoAnswers(probes: HealthProbes, place: Place): Promise<number | null | undefined> {
  const data = await healthData(probes, place);
  if (data === undefined) return undefined;
  const pid = (data as { pid?: unknown } | null)?.pid;
  return typeof pid === 'number' ? pid : null;
}

/** The leader a frontend follows, once it has chosen one; undefined while it has none (or does not answer). */
async function leaderOf(probes: HealthProbes, place: Place): Promise<ChosenLeader | undefined> {
  try {
    const health = parseFrontendHealth(await healthData(probes, place));
    return health.leader === null ? undefined : { id: health.leader, epoch: health.epoch };
  } catch {
    return undefined;
  }
}

/** The catalog's health, once it answers as one. */
async function catalogHealth(probes: HealthProbes, place: Place): Promise<CatalogHealth | undefined> {
  try {
    return parseCatalogHealth(await healthData(probes, place));
  } catch {
    return undefined;
  }
}

/**
 * One connection per role for `up`'s health checks, kept for as long as `up` runs (as `bazaar admin`
 * reads them: the cluster token, and the admin certificate under TLS); a role restarted on its port
 * is reached on a new one.
 */
class HealthProbes {
  private readonly upstreams = new Map<string, Upstream>();
  constructor(private readonly dialer: Dialer) {}

  of(place: Place): Upstream {
    let upstream = this.upstreams.get(place.cert);
    if (upstream === undefined) {
      upstream = this.dialer.http(place.cert, place.endpoint, place.cert, ONE_OFF_CONNECTIONS_MAX);
      this.upstreams.set(place.cert, upstream);
    }
    return upstream;
  }

  async close(): Promise<void> {
    await Promise.all([...this.upstreams.values()].map((upstream) => upstream.close()));
    this.upstreams.clear();
  }
}

/** The `data` of a role's health reply: undefined when nothing answers, null when something else does (not 200, no data). */
async function healthData(probes: HealthProbes, place: Place): Promise<unknown> {
  try {
    const reply = await probes.of(place).call('GET', '/health', undefined, { timeoutMs: UP_HEALTH_TIMEOUT_MS });
    return reply.status === 200 ? ((reply.body as { data?: unknown } | undefined)?.data ?? null) : null;
  } catch (error) {
    // Something answered, but not in JSON: not one of ours.
    return error instanceof BazaarError && error.code === 'UPSTREAM_BAD_REPLY' ? null : undefined;
  }
}

/**
 * Waits until every frontend follows one leader (each chooses it when it starts), at most
 * CHILD_READY_TIMEOUT_MS; the leader, or undefined if they did not agree on one in time.
 */
function waitForLeader(probes: HealthProbes, frontends: readonly Place[]): Promise<ChosenLeader | undefined> {
  return pollUntil(async () => {
    const leaders = await Promise.all(frontends.map((place) => leaderOf(probes, place)));
    const first = leaders[0];
    return first !== undefined && leaders.every((leader) => leader?.id === first.id && leader.epoch === first.epoch) ? first : undefined;
  });
}

/** What `probe` finds, asked every CHILD_READY_POLL_MS for at most CHILD_READY_TIMEOUT_MS; undefined if it found nothing. */
async function pollUntil<T>(probe: () => Promise<T | undefined>): Promise<T | undefined> {
  const deadline = performance.now() + CHILD_READY_TIMEOUT_MS;
  while (performance.now() < deadline) {
    const found = await probe();
    if (found !== undefined) return found;
    await sleep(CHILD_READY_POLL_MS);
  }
  return undefined;
}

/** Waits until the catalog is level with the order log (the leader brings it there), at most CHILD_READY_TIMEOUT_MS; whether it is. */
async function waitForCatalog(probes: HealthProbes, catalog: Place): Promise<boolean> {
  return (await pollUntil(async () => ((await catalogHealth(probes, catalog))?.ready === true ? true : undefined))) === true;
}

export async function start(config: Config, options: UpOptions, logger: Logger = createLogger()): Promise<UpHandle> {
  const [command, ...leading] = options.self ?? selfCommand();
  const output = options.output ?? process.stdout;
  const { fatal } = fatalSignal();
  const specs: ChildSpec[] = [
    { name: 'catalog', args: ['catalog'], endpoint: config.catalog, cert: CATALOG_CERT },
    ...config.orders.map((replica) => ({ name: replicaName(replica.id), args: ['order', '--id', String(replica.id)], endpoint: replica, cert: replicaCertName(replica.id) })),
    ...config.frontends.map((endpoint, index) => ({
      name: frontendLabel(config, index).replace(' ', '-'),
      args: ['frontend', '--index', String(index + 1), ...(options.frontendArgs ?? [])],
      endpoint,
      cert: frontendCertName(index + 1),
    })),
  ];
  // Its children's health is read as `bazaar admin` reads it (with its certificate, under TLS).
  const probes = new HealthProbes(Dialer.forRole(config, ADMIN_CERT, logger));
  const width = Math.max(...specs.map((spec) => spec.name.length));
  const children = new Map<string, RunningChild>();
  let stopping = false;
  /** Set once every role first answered: from then on, a role killed by a signal is restarted. */
  let started = false;
  /** Abnormal exits in a row per role, for the backoff; a child that ran RESTART_STABLE_MS starts the count again. */
  const failures = new Map<string, number>();
  const restartTimers = new Set<NodeJS.Timeout>();
  const restartable = (spec: ChildSpec): boolean => !spec.name.startsWith('order-') || options.restartReplicas === true;

  /**
   * As systemd's Restart=on-abnormal in the deployment: a role killed by a signal (a crash, the OOM
   * killer, kill -9) comes back, at once the first time, then after 100 ms, 200 ms, … up to
   * RESTART_BACKOFF_MS_MAX while it keeps dying within RESTART_STABLE_MS of its start; one that exited with an error on purpose (its lock
   * taken, its disk failed) stays down for someone to look at.
   */
  const scheduleRestart = (running: RunningChild, signal: NodeJS.Signals): void => {
    const { name } = running.spec;
    const count = performance.now() - running.startedAt >= RESTART_STABLE_MS ? 1 : (failures.get(name) ?? 0) + 1;
    failures.set(name, count);
    const delay = count === 1 ? 0 : Math.min(RESTART_BACKOFF_MS_MAX, RESTART_BACKOFF_MS_MIN * 2 ** (count - 2));
    logger.warn(`up: ${name} (pid ${running.process.pid}) was killed by ${signal}; restarting it${delay === 0 ? '' : ` in ${delay} ms`}${count > 1 ? ` (${count} exits in a row)` : ''}`);
    const timer = setTimeout(() => {
      restartTimers.delete(timer);
      // Gone meanwhile: up is stopping, or `admin recover` started it already.
      if (stopping || children.get(name) !== running) return;
      const next = launch(running.spec);
      waitReady(next).then(
        () => logger.info(`up: ${name} is back (pid ${next.process.pid})`),
        (error: Error) => logger.error(`up: ${name} did not come back: ${error.message}`),
      );
    }, delay);
    restartTimers.add(timer);
  };

  const launch = (spec: ChildSpec): RunningChild => {
    const child = spawn(command!, [...leading, ...spec.args, '--config', options.configPath], {
      stdio: ['pipe', 'pipe', 'pipe'],
      // Its own process group: a terminal's Ctrl-C reaches only `up`, which then stops each child
      // once, in order. (A child would take the group's SIGINT plus our SIGTERM as a forcing second signal.)
      detached: true,
      env: { ...process.env, [SUPERVISED_ENV]: '1' },
    });
    const prefix = `${spec.name.padEnd(width)} | `;
    const tail: string[] = [];
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
        output.write(`${prefix}${line}\n`);
        tail.push(line);
        if (tail.length > CHILD_OUTPUT_TAIL_LINES) tail.shift();
      });
    }
    const running: RunningChild = {
      spec,
      process: child,
      expectedExit: false,
      resume: undefined,
      tail,
      startedAt: performance.now(),
      exited: new Promise((resolve) => {
        child.once('exit', (code, signal) => {
          if (!running.expectedExit && !stopping && started && signal !== null && restartable(spec)) {
            scheduleRestart(running, signal);
          } else if (!running.expectedExit && !stopping) {
            const recoverHint = spec.name.startsWith('order-') ? `; bring it back with: bazaar admin recover --id ${spec.name.slice('order-'.length)}` : '';
            logger.warn(`up: ${spec.name} (pid ${child.pid}) exited with ${signal ?? `code ${code}`}; the other roles keep running${recoverHint}`);
          }
          resolve();
        });
        child.once('error', (error) => {
          logger.error(`up: cannot start ${spec.name}: ${error.message}`);
          resolve();
        });
      }),
    };
    children.set(spec.name, running);
    return running;
  };

  const waitReady = async (running: RunningChild): Promise<void> => {
    const deadline = performance.now() + CHILD_READY_TIMEOUT_MS;
    const url = `${baseUrl(running.spec.endpoint)}/health`;
    let exited = false;
    void running.exited.then(() => {
      exited = true;
    });
    /** Another process that answered the role's port meanwhile (its PID, or null if it named none). */
    let stranger: number | null | undefined;
    const strangerNote = (): string => (stranger === undefined ? '' : `; another process (${stranger === null ? 'not a bazaar role' : `pid ${stranger}`}) answers ${url}`);
    while (performance.now() < deadline) {
      if (exited) {
        const why = running.tail.at(-1)?.trim();
        throw new Error(`${running.spec.name} exited during start${why === undefined || why === '' ? '' : `: ${why}`}${strangerNote()}`);
      }
      const answer = await whoAnswers(probes, running.spec);
      if (answer !== undefined && answer === running.process.pid) return;
      if (answer !== undefined) stranger = answer;
      await sleep(CHILD_READY_POLL_MS);
    }
    throw new Error(`${running.spec.name} (pid ${running.process.pid}) did not answer ${url} within ${CHILD_READY_TIMEOUT_MS} ms${strangerNote()}`);
  };

  const isRunning = (running: RunningChild): boolean => running.process.exitCode === null && running.process.signalCode === null;

  const stopChild = async (running: RunningChild): Promise<void> => {
    running.expectedExit = true;
    running.resume?.();
    if (running.process.exitCode !== null || running.process.signalCode !== null) return;
    running.process.kill('SIGTERM');
    const timer = setTimeout(() => running.process.kill('SIGKILL'), CHILD_STOP_GRACE_MS);
    await running.exited;
    clearTimeout(timer);
  };

  const recover = async (name: string): Promise<number> => {
    const running = children.get(name);
    if (running === undefined) throw new BazaarError('NOT_FOUND', `no role named ${JSON.stringify(name)}; roles: ${[...children.keys()].join(', ')}`);
    if (isRunning(running)) {
      throw new BazaarError('BAD_REQUEST', `${name} is running (pid ${running.process.pid}); crash it first`);
    }
    const restarted = launch(running.spec);
    logger.info(`up: restarting ${name}`);
    await waitReady(restarted);
    logger.info(`up: ${name} is back (pid ${restarted.process.pid})`);
    return restarted.process.pid ?? -1;
  };

  /** A hang for real: SIGSTOP now, SIGCONT after `ms` (or when `up` stops). */
  const hang = (name: string, ms: number): number => {
    const running = children.get(name);
    if (running === undefined) throw new BazaarError('NOT_FOUND', `no role named ${JSON.stringify(name)}; roles: ${[...children.keys()].join(', ')}`);
    if (!isRunning(running)) throw new BazaarError('BAD_REQUEST', `${name} is not running`);
    if (running.resume !== undefined) throw new BazaarError('BAD_REQUEST', `${name} is hung already`);
    running.process.kill('SIGSTOP');
    const timer = setTimeout(() => running.resume?.(), ms);
    running.resume = () => {
      clearTimeout(timer);
      running.resume = undefined;
      if (isRunning(running)) running.process.kill('SIGCONT');
      logger.info(`up: ${name} continued (SIGCONT)`);
    };
    logger.warn(`up: ${name} (pid ${running.process.pid}) hung for ${ms} ms (SIGSTOP)`);
    return running.process.pid ?? -1;
  };

  // The control socket: `bazaar admin recover` and the dashboard ask this process to restart a role
  // or hang one.
  const socketPath = dataPaths(config.dataDir).upSocket;
  let control: JsonServer | undefined;

  const close = idempotent(async () => {
    stopping = true;
    for (const timer of restartTimers) clearTimeout(timer);
    await control?.close();
    await unlink(socketPath).catch(() => undefined);
    // Reverse start order: the frontend stops taking requests before what it calls goes away.
    for (const running of [...children.values()].reverse()) await stopChild(running);
    await probes.close();
  });

  await mkdir(config.dataDir, { recursive: true });
  if (await socketAnswers(socketPath)) {
    throw new Error(`another bazaar up is already running on ${config.dataDir} (its control socket ${socketPath} answers); stop it first`);
  }
  await unlink(socketPath).catch(() => undefined);
  // A data folder where no replica's disk holds anything is a new cluster; otherwise an empty folder recovers.
  if (await initIfNew(config)) logger.info(`up: a new cluster "${config.cluster}": initialised the disks of order replicas ${config.orders.map((replica) => replica.id).join(', ')} in ${config.dataDir}`);
  control = createJsonServer({
    name: 'up control',
    logger,
    routes: [
      serve(UP_HEALTH, () => ({ role: 'up', pid: process.pid, children: Object.fromEntries([...children].map(([name, running]) => [name, { pid: running.process.pid, running: isRunning(running) }])) })),
      serve(HANG, ({ role, ms }) => ({ role, pid: hang(role, ms!) })),
      serve(RECOVER, async ({ role }) => ({ role, pid: await recover(role) })),
    ],
  });
  await new Promise<void>((resolve, reject) => {
    control!.server.once('error', reject);
    control!.server.listen(socketPath, () => resolve());
  });

  try {
    // The catalog and the replicas do not need each other to start; the frontends come last, so
    // that the cluster is whole when one first answers.
    const isFrontend = (spec: ChildSpec): boolean => spec.args[0] === 'frontend';
    await Promise.all(specs.filter((spec) => !isFrontend(spec)).map(launch).map(waitReady));
    await Promise.all(specs.filter(isFrontend).map(launch).map(waitReady));
    started = true;
  } catch (error) {
    await close();
    throw error;
  }
  const leader = await waitForLeader(probes, specs.filter((spec) => spec.args[0] === 'frontend'));
  if (leader === undefined) logger.warn(`up: the frontends have not agreed on an order leader within ${CHILD_READY_TIMEOUT_MS} ms; the first trade will choose one`);
  else if (!(await waitForCatalog(probes, specs[0]!))) logger.warn(`up: the catalog is not level with the order log after ${CHILD_READY_TIMEOUT_MS} ms; it answers 503 until it is`);

  return {
    fatal,
    close,
    kill: () => {
      stopping = true;
      for (const running of children.values()) running.process.kill('SIGKILL');
    },
    pids: () => Object.fromEntries([...children].map(([name, running]) => [name, running.process.pid ?? -1])),
    recover,
    leader,
  };
}
