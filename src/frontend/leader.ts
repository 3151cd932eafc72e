// Which order replica leads, as the lab says: ping the highest id first and take the first that
// answers; tell every replica the choice. Each choice carries a rising epoch, so a replica can refuse
// an older leader. The choice is kept until a call to the leader fails.
import { setTimeout as sleep } from 'node:timers/promises';
import type { ReplicaEndpoint } from '../core/config.ts';
import { baseUrl } from '../core/config.ts';
import { BazaarError } from '../core/errors.ts';
import { CONTROL_CONNECTIONS_MAX, ELECTION_TIMEOUT_MS, LEADER_FOLLOW_ATTEMPTS_MAX, LEADER_FOLLOW_WAIT_MS, LEADER_PING_TIMEOUT_MS, LEADER_START_RETRY_MS, LEADER_SUSPECT_MS } from '../core/limits.ts';
import type { Logger } from '../core/logger.ts';
import { type Caller, dataOf, Upstream } from '../http/client.ts';
import { LinkUpstream } from '../link/client.ts';
import { send } from '../http/message.ts';
import { parseOrderHealth } from '../protocol/health.ts';
import { LEADER_NOTICE } from '../protocol/replication.ts';

export interface ReplicaClient {
  readonly id: number;
  /**
   * Trades and order queries, on one link. Replaced when this replica stops being the chosen leader:
   * the old link is closed, so calls still open on it (a hung leader's) fail over at once instead of
   * each waiting out its own timeout.
   */
  upstream: Caller;
  /** Pings and leader notices, apart from the traffic, so an election never waits behind it. */
  readonly control: Upstream;
}

interface Health {
  readonly replica: ReplicaClient;
  readonly epoch: number;
  readonly leaderId: number | null;
  readonly state: string;
  readonly serving: boolean;
}

export class LeaderChooser {
  /** Highest id first: the order in which candidates are tried. */
  private readonly replicas: readonly ReplicaClient[];
  private readonly logger: Logger;
  private readonly token: string | undefined;
  private leader: ReplicaClient | undefined;
  private choosing: Promise<ReplicaClient> | undefined;
  /** The highest epoch this frontend has seen or started. */
  private epoch = 0;
  elections = 0;
  /** Replicas that just failed as leader (gone or hung), by id: left out of the next choices until then. */
  private readonly suspects = new Map<number, number>();
  /** Ends the choice made at start (its retries) when the frontend closes. */
  private readonly closing = new AbortController();

  constructor(replicas: readonly ReplicaEndpoint[], token: string | undefined, logger: Logger) {
    this.logger = logger;
    this.replicas = [...replicas]
      .sort((a, b) => b.id - a.id)
      .map((replica) => ({
        id: replica.id,
        upstream: new LinkUpstream(`order replica ${replica.id}`, baseUrl(replica), { token }),
        control: new Upstream(`order replica ${replica.id}`, baseUrl(replica), { token, connections: CONTROL_CONNECTIONS_MAX }),
      }));
    this.token = token;
  }

  get currentId(): number | undefined {
    return this.leader?.id;
  }

  get currentEpoch(): number {
    return this.epoch;
  }

  /** The leader, choosing one if there is none; 503 if none can be had. Concurrent callers share one choice. */
  current(): Promise<ReplicaClient> {
    if (this.leader !== undefined) return Promise.resolve(this.leader);
    this.choosing ??= this.choose().finally(() => {
      this.choosing = undefined;
    });
    return this.choosing;
  }

  /**
   * As the lab says, the frontend picks the leader when it starts, not at the first trade: the
   * highest id that answers, every replica told. Until some replica answers (a frontend started
   * before the replicas), it tries again every LEADER_START_RETRY_MS. Resolves once a leader is
   * chosen or the chooser closes; never rejects.
   */
  async chooseAtStart(): Promise<void> {
    const { signal } = this.closing;
    while (!signal.aborted && this.leader === undefined) {
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
   * Drops the choice after a call to it failed, so the next request chooses again; calls still aimed
   * at it fail over. A leader that is gone or hung (`suspect`) is also left out of the choices for
   * LEADER_SUSPECT_MS: pinging a hung one would hold the next election for the whole ping timeout.
   */
  forget(replica: ReplicaClient, suspect = false): void {
    if (suspect) this.suspects.set(replica.id, performance.now() + LEADER_SUSPECT_MS);
    if (this.leader !== replica) return;
    this.leader = undefined;
    const old = replica.upstream;
    replica.upstream = new LinkUpstream(old.name, old.origin, { token: this.token });
    void old.close();
  }

  private adopt(replica: ReplicaClient): ReplicaClient {
    this.leader = replica;
    return replica;
  }

  private async ping(replica: ReplicaClient): Promise<Health | undefined> {
    try {
      const reply = await replica.control.call('GET', '/health', undefined, { timeoutMs: LEADER_PING_TIMEOUT_MS });
      if (reply.status !== 200) return undefined;
      return { replica, ...parseOrderHealth(dataOf(reply, 'health')) };
    } catch {
      return undefined;
    }
  }

  /** Pings every replica not under suspicion; if none of those answers, the suspects too. */
  private async alive(): Promise<Health[]> {
    const now = performance.now();
    for (const [id, until] of this.suspects) if (until <= now) this.suspects.delete(id);
    const ping = async (replicas: readonly ReplicaClient[]): Promise<Health[]> =>
      (await Promise.all(replicas.map((replica) => this.ping(replica)))).filter((health): health is Health => health !== undefined);
    const trusted = await ping(this.replicas.filter((replica) => !this.suspects.has(replica.id)));
    return trusted.length > 0 ? trusted : ping(this.replicas.filter((replica) => this.suspects.has(replica.id)));
  }

  /** A live replica that leads the newest epoch this frontend knows, and serves. */
  private servingAt(alive: readonly Health[]): Health | undefined {
    return alive.find((health) => health.state === 'leader' && health.serving && health.epoch === this.epoch);
  }

  /** Waits briefly for another frontend's election to finish, and follows its leader if one serves. */
  private async followNewer(): Promise<ReplicaClient | undefined> {
    for (let attempt = 0; attempt < LEADER_FOLLOW_ATTEMPTS_MAX; attempt += 1) {
      const alive = await this.alive();
      for (const health of alive) this.epoch = Math.max(this.epoch, health.epoch);
      const serving = this.servingAt(alive);
      if (serving !== undefined) {
        this.logger.info(`frontend: order replica ${serving.replica.id} leads epoch ${this.epoch} (another frontend's choice); following it`);
        return this.adopt(serving.replica);
      }
      await sleep(LEADER_FOLLOW_WAIT_MS);
    }
    return undefined;
  }

  private async choose(): Promise<ReplicaClient> {
    const alive = await this.alive();
    if (alive.length === 0) throw new BazaarError('NO_LEADER', 'no order replica is answering; retry shortly', { retryAfterS: 1 });
    for (const health of alive) this.epoch = Math.max(this.epoch, health.epoch);

    // A live replica already leads the newest epoch (chosen by another frontend, or by this one before
    // it restarted): adopt it rather than start another epoch, so frontends never fight and one
    // failure costs one election.
    const serving = this.servingAt(alive);
    if (serving !== undefined) {
      if (this.leader !== serving.replica) this.logger.info(`frontend: order replica ${serving.replica.id} already leads epoch ${this.epoch}; following it`);
      return this.adopt(serving.replica);
    }
    // Replicas have joined the newest epoch for a live candidate that does not serve yet: another
    // frontend's election is under way. Give it a moment rather than outbid it.
    const underWay = alive.some((health) => health.epoch === this.epoch && health.leaderId !== null && alive.some((other) => other.replica.id === health.leaderId));
    if (underWay) {
      const followed = await this.followNewer();
      if (followed !== undefined) return followed;
    }

    for (const candidate of alive) {
      this.epoch += 1;
      this.elections += 1;
      const epoch = this.epoch;
      const notice = { epoch, leaderId: candidate.replica.id };
      // Followers first, so they refuse the old leader before the new one polls them.
      await Promise.all(
        alive
          .filter((other) => other !== candidate)
          .map((other) => send(other.replica.control, LEADER_NOTICE, notice, `replica ${other.replica.id} refused the notice`, { timeoutMs: LEADER_PING_TIMEOUT_MS }).catch(() => undefined)),
      );
      let refusal: Error;
      try {
        await send(candidate.replica.control, LEADER_NOTICE, notice, `replica ${candidate.replica.id} refused to lead epoch ${epoch}`, { timeoutMs: ELECTION_TIMEOUT_MS });
        this.logger.info(`frontend: order replica ${candidate.replica.id} leads epoch ${epoch}`);
        return this.adopt(candidate.replica);
      } catch (error) {
        refusal = error as Error;
      }
      const code = refusal instanceof BazaarError ? refusal.code : undefined;
      if (code === 'STALE_EPOCH') {
        // Another frontend's election got there first: follow its leader rather than outbid it
        // with a newer epoch (frontends that outbid each other would never settle).
        const followed = await this.followNewer();
        if (followed !== undefined) return followed;
      }
      if (code === 'NO_QUORUM') {
        throw new BazaarError('NO_LEADER', `no majority of order replicas is reachable (replica ${candidate.replica.id}: ${refusal.message}); retry shortly`, { retryAfterS: 1 });
      }
      this.logger.warn(`frontend: replica ${candidate.replica.id} could not take epoch ${epoch}: ${refusal.message}`);
    }
    throw new BazaarError('NO_LEADER', 'no order replica could take the lead; retry shortly', { retryAfterS: 1 });
  }

  close(): Promise<void> {
    this.closing.abort();
    return Promise.all(this.replicas.flatMap((replica) => [replica.upstream.close(), replica.control.close()])).then(() => undefined);
  }
}
