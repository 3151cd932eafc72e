// The client of `bazaar up`'s control socket (a unix socket in the data dir): which roles it runs
// and their PIDs, start one again, hang one for a while. `bazaar admin recover` and the dashboard
// use it; where roles run as systemd units there is no socket, and each call says so.
import { Client } from 'undici';
import type { Config } from '../core/config.ts';
import { BazaarError } from '../core/errors.ts';
import { CHILD_READY_TIMEOUT_MS, DASHBOARD_HANG_MS_MAX, RECOVER_REPLY_MARGIN_MS } from '../core/limits.ts';
import { dataPaths } from '../core/paths.ts';
import { get, type Message, post } from './message.ts';
import { count, flag, object, text } from './parse.ts';

export interface SupervisedRole {
  readonly pid: number | undefined;
  readonly running: boolean;
}

/** Role name (catalog, order-1, …, frontend) -> its child process. */
export type Supervised = Readonly<Record<string, SupervisedRole>>;

/** A role to act on, and for a hang how long (ms). */
export interface RoleRequest {
  readonly role: string;
  readonly ms?: number;
}

/** What up answers an action with: the role and the PID it acted on. */
export interface RoleReply {
  readonly role: string;
  readonly pid: number;
}

const BAD = 'UPSTREAM_BAD_REPLY';

function parseSupervised(data: unknown): { children: Supervised } {
  const children = object(object(data, 'up health', BAD).children, 'children', BAD);
  const parsed: Record<string, SupervisedRole> = {};
  for (const [name, value] of Object.entries(children)) {
    const child = object(value, name, BAD);
    parsed[name] = { pid: child.pid === undefined ? undefined : count(child.pid, `${name}.pid`, 1, BAD), running: flag(child.running, `${name}.running`, BAD) };
  }
  return { children: parsed };
}

function parseRoleReply(data: unknown): RoleReply {
  const value = object(data, 'up reply', BAD);
  return { role: text(value.role, 'role', BAD), pid: count(value.pid, 'pid', 1, BAD) };
}

function parseRole(body: unknown, example: string): string {
  const role = object(body, 'request').role;
  if (typeof role !== 'string') throw new BazaarError('BAD_REQUEST', `field "role" must name a role, like "${example}"`);
  return role;
}

/** The roles up runs and their processes. */
export const UP_HEALTH = get('/health', () => '/health', () => undefined, parseSupervised);
/** Start a role again that has exited. */
export const RECOVER = post<RoleRequest, RoleReply>('/recover', (body) => ({ role: parseRole(body, 'order-2') }), parseRoleReply);
/** SIGSTOP a role now, SIGCONT it after `ms`. */
export const HANG = post<RoleRequest, RoleReply>(
  '/hang',
  (body) => {
    const role = parseRole(body, 'order-3');
    const ms = object(body, 'request').ms;
    if (typeof ms !== 'number' || !Number.isInteger(ms) || ms < 1 || ms > DASHBOARD_HANG_MS_MAX) throw new BazaarError('BAD_REQUEST', `field "ms" must be an integer from 1 to ${DASHBOARD_HANG_MS_MAX}`);
    return { role, ms };
  },
  parseRoleReply,
);

async function call<Request, Reply>(config: Config, message: Message<Request, Reply>, request: Request, timeoutMs: number): Promise<Reply> {
  const socketPath = dataPaths(config.dataDir).upSocket;
  const client = new Client('http://up', { socketPath });
  const body = message.body?.(request);
  try {
    const reply = await client.request({
      method: message.method,
      path: message.target(request),
      ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    const parsed = (await reply.body.json().catch(() => undefined)) as { data?: unknown; error?: { message?: unknown } } | undefined;
    if (reply.statusCode !== 200) throw new BazaarError('UPSTREAM_BAD_REPLY', typeof parsed?.error?.message === 'string' ? parsed.error.message : `bazaar up answered ${reply.statusCode}`);
    return message.parseReply(parsed?.data, request);
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
    return (await call(config, UP_HEALTH, undefined, timeoutMs)).children;
  } catch {
    return undefined;
  }
}

/** Starts role `name` again (it must have exited); resolves with its new PID once it answers. */
export async function recoverRole(config: Config, name: string): Promise<number> {
  return (await call(config, RECOVER, { role: name }, CHILD_READY_TIMEOUT_MS + RECOVER_REPLY_MARGIN_MS)).pid;
}

/** Stops role `name` with SIGSTOP and continues it with SIGCONT after `ms`: a hung process, for real. */
export async function hangRole(config: Config, name: string, ms: number): Promise<number> {
  return (await call(config, HANG, { role: name, ms }, CHILD_READY_TIMEOUT_MS)).pid;
}
