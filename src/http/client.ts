// HTTP calls from one of our roles to another, for what is not on a link (health pings, leader
// notices, admin, a returning replica's probes; the trade path travels on links, link/client.ts): an
// undici keep-alive pool per upstream, a deadline on every call, and replies parsed as JSON. A peer
// that is down or too slow becomes a typed 503, never a hang.
import { Pool } from 'undici';
import type { ClientTls } from '../tls/client.ts';
import { BazaarError, ERROR_CODE_HEADER, isErrorCode } from '../core/errors.ts';
import { UPSTREAM_BODY_BYTES_MAX, UPSTREAM_CONNECTIONS_MAX, UPSTREAM_KEEP_ALIVE_MS, UPSTREAM_REQUEST_TIMEOUT_MS } from '../core/limits.ts';

export interface UpstreamReply {
  readonly status: number;
  readonly body: unknown;
  /** Our stable error code, when the upstream sent one. */
  readonly errorCode: string | undefined;
}

export interface CallOptions {
  readonly timeoutMs?: number;
}

/** One upstream role as its callers see it, over HTTP (`Upstream`) or over a link (link/client.ts). */
export interface Caller {
  readonly name: string;
  /** `http://host:port`. */
  readonly origin: string;
  /** Sends one request and returns the status and parsed JSON body; throws a 503 BazaarError if unreachable. */
  call(method: 'GET' | 'POST', path: string, body?: unknown, options?: CallOptions): Promise<UpstreamReply>;
  close(): Promise<void>;
}

export class Upstream implements Caller {
  readonly name: string;
  readonly origin: string;
  private readonly pool: Pool;
  private readonly token: string | undefined;

  constructor(name: string, origin: string, options: { token?: string | undefined; connections?: number; tls?: ClientTls | undefined } = {}) {
    this.name = name;
    this.origin = origin;
    this.token = options.token;
    this.pool = new Pool(origin, {
      connections: options.connections ?? UPSTREAM_CONNECTIONS_MAX,
      pipelining: 1,
      keepAliveTimeout: UPSTREAM_KEEP_ALIVE_MS,
      connectTimeout: UPSTREAM_REQUEST_TIMEOUT_MS,
      ...(options.tls === undefined ? {} : { connect: options.tls }),
    });
  }

  async call(method: 'GET' | 'POST', path: string, body?: unknown, options: CallOptions = {}): Promise<UpstreamReply> {
    const timeoutMs = options.timeoutMs ?? UPSTREAM_REQUEST_TIMEOUT_MS;
    const headers: Record<string, string> = {};
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    try {
      const reply = await this.pool.request({
        method,
        path,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        // Connect, headers and body each have a deadline, so a call is bounded without a per-call
        // AbortSignal (whose timer and DOMException showed up in profiles).
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      const text = await readLimited(reply.body);
      let parsed: unknown;
      try {
        parsed = text.length === 0 ? undefined : JSON.parse(text);
      } catch {
        throw new BazaarError('UPSTREAM_BAD_REPLY', `${this.name} sent a reply that is not JSON (status ${reply.statusCode})`);
      }
      const code = reply.headers[ERROR_CODE_HEADER];
      return { status: reply.statusCode, body: parsed, errorCode: typeof code === 'string' ? code : undefined };
    } catch (error) {
      if (error instanceof BazaarError) throw error;
      throw new BazaarError('UPSTREAM_UNAVAILABLE', `${this.name} is unavailable: ${(error as Error).message}`, { cause: error });
    }
  }

  /** A GET whose reply is text (Prometheus metrics): the body when the status is 200, else a 503-typed error. */
  async text(path: string, options: CallOptions = {}): Promise<string> {
    const timeoutMs = options.timeoutMs ?? UPSTREAM_REQUEST_TIMEOUT_MS;
    try {
      const reply = await this.pool.request({ method: 'GET', path, headers: this.token === undefined ? {} : { authorization: `Bearer ${this.token}` }, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
      const text = await readLimited(reply.body);
      if (reply.statusCode !== 200) throw new BazaarError('UPSTREAM_BAD_REPLY', `${this.name} answered ${path} with ${reply.statusCode}`);
      return text;
    } catch (error) {
      if (error instanceof BazaarError) throw error;
      throw new BazaarError('UPSTREAM_UNAVAILABLE', `${this.name} is unavailable: ${(error as Error).message}`, { cause: error });
    }
  }

  close(): Promise<void> {
    return this.pool.destroy();
  }
}

async function readLimited(body: AsyncIterable<Buffer>): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > UPSTREAM_BODY_BYTES_MAX) throw new BazaarError('UPSTREAM_BAD_REPLY', `reply is larger than ${UPSTREAM_BODY_BYTES_MAX} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Rebuilds the error an upstream replied with, so it can be passed on with its code and message. */
export function upstreamError(reply: UpstreamReply, fallback: string): BazaarError {
  const message = (reply.body as { error?: { message?: unknown } } | undefined)?.error?.message;
  const text = typeof message === 'string' ? message : fallback;
  if (reply.errorCode !== undefined && isErrorCode(reply.errorCode)) return new BazaarError(reply.errorCode, text);
  return new BazaarError('UPSTREAM_BAD_REPLY', `${fallback} (status ${reply.status})`);
}

/** The `data` member of a successful reply (`status`, 200 unless said), or the upstream's error rethrown. */
export function dataOf(reply: UpstreamReply, what: string, status = 200): unknown {
  if (reply.status === status) {
    const data = (reply.body as { data?: unknown } | undefined)?.data;
    if (data !== undefined) return data;
  }
  throw upstreamError(reply, what);
}
