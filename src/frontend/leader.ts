// Which order replica the frontend sends trades and order queries to: the lab's rule, ping the
// highest id first and take the first that answers. The choice is kept until a call to it fails.
import type { ReplicaEndpoint } from '../core/config.ts';
import { baseUrl } from '../core/config.ts';
import { BazaarError } from '../core/errors.ts';
import { LEADER_PING_TIMEOUT_MS } from '../core/limits.ts';
import { Upstream } from '../http/client.ts';

export interface ReplicaClient {
  readonly id: number;
  readonly upstream: Upstream;
}

export class LeaderChooser {
  private readonly replicas: readonly ReplicaClient[];
  private leader: ReplicaClient | undefined;
  private choosing: Promise<ReplicaClient> | undefined;

  constructor(replicas: readonly ReplicaEndpoint[], token: string | undefined) {
    // Highest id first: the order in which candidates are pinged.
    this.replicas = [...replicas]
      .sort((a, b) => b.id - a.id)
      .map((replica) => ({ id: replica.id, upstream: new Upstream(`order replica ${replica.id}`, baseUrl(replica), { token }) }));
  }

  get currentId(): number | undefined {
    return this.leader?.id;
  }

  /** The replica to use, choosing one if there is none; 503 if no replica answers. */
  current(): Promise<ReplicaClient> {
    if (this.leader !== undefined) return Promise.resolve(this.leader);
    this.choosing ??= this.choose().finally(() => {
      this.choosing = undefined;
    });
    return this.choosing;
  }

  /** Drops the choice after a failed call to it, so the next request chooses again. */
  forget(replica: ReplicaClient): void {
    if (this.leader === replica) this.leader = undefined;
  }

  private async choose(): Promise<ReplicaClient> {
    for (const replica of this.replicas) {
      try {
        const reply = await replica.upstream.call('GET', '/health', undefined, { timeoutMs: LEADER_PING_TIMEOUT_MS });
        if (reply.status === 200) {
          this.leader = replica;
          return replica;
        }
      } catch {
        // Not answering: try the next id down.
      }
    }
    throw new BazaarError('NO_LEADER', 'no order replica is answering; retry shortly', { retryAfterS: 1 });
  }

  close(): Promise<void> {
    return Promise.all(this.replicas.map((replica) => replica.upstream.close())).then(() => undefined);
  }
}
