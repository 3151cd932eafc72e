// The frontend's leader chooser: the rules are the pure machine in choice.ts; this drives it with
// real pings (`GET /health` on each replica's control pool) and notices, and hands the chosen
// replica's link to whoever waits for it.
import { setTimeout as sleep } from 'node:timers/promises';
import type { ReplicaEndpoint } from '../core/config.ts';
import { BazaarError } from '../core/errors.ts';
import { CONTROL_CONNECTIONS_MAX, LEADER_CHECK_MS, LEADER_PING_TIMEOUT_MS, LEADER_START_RETRY_MS } from '../core/limits.ts';
import type { Logger } from '../core/logger.ts';
import { dataOf, type Upstream } from '../http/client.ts';
import type { Dialer } from '../http/dial.ts';
import type { LinkUpstream } from '../link/client.ts';
import { replicaCertName } from '../tls/names.ts';
import { send } from '../http/message.ts';
import { parseOrderHealth } from '../protocol/health.ts';
import { LEADER_NOTICE } from '../protocol/replication.ts';
import { LeaderChoice, type NoticeOutcome, type Ping } from './choice.ts';

export interface ReplicaClient {
  readonly id: number;
  /**
   * Trades and order queries, on one link. Replaced when this replica stops being the chosen leader:
   * the old link is closed, so calls still open on it (a hung leader's) fail over at once instead of
   * each waiting out its own timeout.
   */
  upstream: LinkUpstream;
  /** Pings and leader notices, apart from the traffic, so an election never waits behind it. */
  readonly control: Upstream;
}

/** Waits for a choice of leader. */
interface Waiter {
  resolve(replica: ReplicaClient): void;
  reject(error: Error): void;
}

/** The driver of the leader choice (choice.ts): real pings and notices, the wall clock, a timer at the machine's next wake. */
export class LeaderChooser {
  private readonly replicas: ReadonlyMap<number, ReplicaClient>;
  private readonly logger: Logger;
  private readonly choice: LeaderChoice;
  private waiters: Waiter[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** When the leader was last looked in on (checkLeader). */
  private checkedAt = -Infinity;
  /** Ends the choice made at start (its retries) when the frontend closes. */
  private readonly closing = new AbortController();

  constructor(replicas: readonly ReplicaEndpoint[], dialer: Dialer, logger: Logger) {
    this.logger = logger;
    this.replicas = new Map(
      replicas.map((replica) => [
        replica.id,
        {
          id: replica.id,
          upstream: dialer.link(`order replica ${replica.id}`, replica, replicaCertName(replica.id)),
          control: dialer.http(`order replica ${replica.id}`, replica, replicaCertName(replica.id), CONTROL_CONNECTIONS_MAX),
        },
      ]),
    );
    this.choice = new LeaderChoice(replicas.map((replica) => replica.id));
  }

  get currentId(): number | undefined {
    return this.choice.leader;
  }

  get currentEpoch(): number {
    return this.choice.epoch;
  }

  /** Leader elections this frontend started. */
  get elections(): number {
    return this.choice.elections;
  }

  /** The leader, choosing one if there is none; 503 if none can be had. Concurrent callers share one choice. */
  current(): Promise<ReplicaClient> {
    const leader = this.choice.leader;
    if (leader !== undefined) return Promise.resolve(this.replicas.get(leader)!);
    const chosen = new Promise<ReplicaClient>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.choice.want(performance.now());
    this.carryOut();
    return chosen;
  }

  /**
   * As the lab says, the frontend picks the leader when it starts, not at the first trade: the
   * highest id that answers, every replica told. Until some replica answers (a frontend started
   * before the replicas), it tries again every LEADER_START_RETRY_MS. Resolves once a leader is
   * chosen or the chooser closes; never rejects.
   */
  async chooseAtStart(): Promise<void> {
    const { signal } = this.closing;
    while (!signal.aborted && this.choice.leader === undefined) {
      try {
        await this.current();
        return;
      } catch (error) {
        if (signal.aborted) return;
        this.logger.info(`frontend: no leader chosen yet (${(error as Error).message}); trying again in ${LEADER_START_RETRY_MS} ms`);
        await sleep(LEADER_START_RETRY_MS, undefined, { signal }).catch(() => undefined);
      }
    }
  }

  /**
   * Looks in on the leader when something says it may be gone without a trade to notice it (the
   * catalog answers that it waits for the order log to be brought to it): a leader that does not
   * answer, or no longer serves, is dropped and another chosen. At most once per LEADER_CHECK_MS.
   */
  async checkLeader(): Promise<void> {
    const now = performance.now();
    if (now < this.checkedAt + LEADER_CHECK_MS || this.closing.signal.aborted) return;
    this.checkedAt = now;
    const id = this.choice.leader;
    if (id !== undefined) {
      const replica = this.replicas.get(id)!;
      const serving = (await this.health(id, LEADER_PING_TIMEOUT_MS))?.serving;
      if (serving === true) return;
      this.logger.warn(`frontend: order replica ${id} ${serving === undefined ? 'does not answer' : 'no longer serves'}; choosing the leader again`);
      this.forget(replica, serving === undefined);
    }
    await this.current().catch(() => undefined);
  }

  /**
   * Drops the choice after a call to it failed, so the next request chooses again; calls still aimed
   * at it fail over (its link is replaced). A leader that is gone or hung (`suspect`) is left out of
   * the choices for a while.
   */
  forget(replica: ReplicaClient, suspect = false): void {
    const wasLeader = this.choice.leader === replica.id;
    this.choice.forget(replica.id, suspect, performance.now());
    if (!wasLeader) return;
    const old = replica.upstream;
    replica.upstream = old.renew();
    void old.close();
  }

  private carryOut(): void {
    for (const action of this.choice.takeActions()) {
      switch (action.kind) {
        case 'ping':
          void this.ping(action.id, action.timeoutMs);
          break;
        case 'notice':
          void this.notice(action.id, action.epoch, action.leaderId, action.timeoutMs);
          break;
        case 'chosen': {
          const replica = this.replicas.get(action.id)!;
          for (const waiter of this.waiters.splice(0)) waiter.resolve(replica);
          break;
        }
        case 'failed':
          for (const waiter of this.waiters.splice(0)) waiter.reject(action.error);
          break;
        case 'note':
          if (action.level === 'warn') this.logger.warn(action.message);
          else this.logger.info(action.message);
          break;
      }
    }
    const wake = this.choice.nextWake();
    clearTimeout(this.timer);
    if (wake !== undefined && !this.closing.signal.aborted) {
      this.timer = setTimeout(() => {
        this.choice.tick(performance.now());
        this.carryOut();
      }, Math.max(0, wake - performance.now()));
    }
  }

  /** A replica's health; undefined when it is down, hung or not a replica. */
  private async health(id: number, timeoutMs: number): Promise<Ping | undefined> {
    try {
      const reply = await this.replicas.get(id)!.control.call('GET', '/health', undefined, { timeoutMs });
      return reply.status === 200 ? parseOrderHealth(dataOf(reply, 'health')) : undefined;
    } catch {
      return undefined;
    }
  }

  private async ping(id: number, timeoutMs: number): Promise<void> {
    const answer = await this.health(id, timeoutMs);
    this.choice.pinged(id, answer, performance.now());
    this.carryOut();
  }

  private async notice(id: number, epoch: number, leaderId: number, timeoutMs: number): Promise<void> {
    let outcome: NoticeOutcome = { ok: true };
    try {
      await send(this.replicas.get(id)!.control, LEADER_NOTICE, { epoch, leaderId }, `replica ${id} refused the notice for epoch ${epoch}`, { timeoutMs });
    } catch (error) {
      outcome = { ok: false, code: error instanceof BazaarError ? error.code : undefined, message: (error as Error).message };
    }
    this.choice.noticed(id, epoch, outcome, performance.now());
    this.carryOut();
  }

  close(): Promise<void> {
    this.closing.abort();
    clearTimeout(this.timer);
    return Promise.all([...this.replicas.values()].flatMap((replica) => [replica.upstream.close(), replica.control.close()])).then(() => undefined);
  }
}
