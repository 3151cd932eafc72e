// The client of `bazaar up`'s control socket (a unix socket in the data dir): which roles it runs
// and their PIDs, start one again, hang one for a while. `bazaar admin recover` and the dashboard
// use it; where roles run as systemd units there is no socket, and each call says so.
import { Client } from 'undici';
import type { Config } from '../core/config.ts';
import { BazaarError } from '../core/errors.ts';
import { CHILD_READY_TIMEOUT_MS } from '../core/limits.ts';
import { dataPaths } from '../core/paths.ts';

export interface SupervisedRole {
  readonly pid: number | undefined;
  readonly running: boolean;
}

/** Role name (catalog, order-1, …, frontend) -> its child process. */
export type Supervised = Readonly<Record<string, SupervisedRole>>;

async function call<T>(config: Config, method: 'GET' | 'POST', path: string, body: unknown, timeoutMs: number): Promise<T> {
  const socketPath = dataPaths(config.dataDir).upSocket;
  const client = new Client('http://up', { socketPath });
  try {
    const reply = await client.request({
      method,
      path,
      ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    const parsed = (await reply.body.json()) as { data?: T; error?: { message?: string } };
    if (reply.statusCode !== 200) throw new BazaarError('UPSTREAM_BAD_REPLY', parsed.error?.message ?? `bazaar up answered ${reply.statusCode}`);
    return parsed.data as T;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ECONNREFUSED') {
      throw new BazaarError(
        'UPSTREAM_UNAVAILABLE',
        `no bazaar up is running on ${config.dataDir} (no control socket at ${socketPath}); where each role runs as a systemd unit, use systemctl on the role's host`,
      );
    }
    throw error;
  } finally {
    await client.close();
  }
}

/** The roles the local `bazaar up` runs, or undefined when none runs on this data dir. */
export async function supervised(config: Config, timeoutMs: number): Promise<Supervised | undefined> {
  try {
    return (await call<{ children: Supervised }>(config, 'GET', '/health', undefined, timeoutMs)).children;
  } catch {
    return undefined;
  }
}

/** Starts role `name` again (it must have exited); resolves with its new PID once it answers. */
export async function recoverRole(config: Config, name: string): Promise<number> {
  return (await call<{ pid: number }>(config, 'POST', '/recover', { role: name }, CHILD_READY_TIMEOUT_MS + 5_000)).pid;
}

/** Stops role `name` with SIGSTOP and continues it with SIGCONT after `ms`: a hung process, for real. */
export async function hangRole(config: Config, name: string, ms: number): Promise<number> {
  return (await call<{ pid: number }>(config, 'POST', '/hang', { role: name, ms }, CHILD_READY_TIMEOUT_MS)).pid;
}
