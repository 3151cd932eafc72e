// A link to one upstream role: every call is one frame on one connection (opened by an HTTP Upgrade
// on the role's own port), so concurrent calls share the connection, and the calls made in one turn
// of the event loop share one write. Replies come back in any order, matched by call number.
//
// A connection that closes fails every call open on it at once, as a crashed peer should: callers
// fail over or retry under the same idempotency key, and the next call opens a new connection. A
// call past its deadline fails alone (the peer may only be slow). One timer per link checks the
// deadlines, not one per call.
//
// A peer that hangs (SIGSTOP, a wedged event loop) keeps its connection open and says nothing. So
// while calls are open the link listens for silence: after LINK_PROBE_AFTER_MS without a frame it
// sends a probe (GET /health, which every role answers at once), and after LINK_SILENCE_MAX_MS
// without one it gives the peer up as hung, like a closed connection: every open call fails at
// once and callers move on. A peer that is merely busy answers the probe.
//
// Silence counts only time this end was listening. When this process itself stalls (a long turn, a
// starved CPU), its deadline timer fires late, and it fires before the stalled loop reads the
// frames waiting on the socket: the stall is not the peer's silence, so it is not counted, and a
// verdict of "hung" waits one more turn of the loop (setImmediate runs after the socket is read).
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { BazaarError } from '../core/errors.ts';
import { LINK_DEADLINE_CHECK_MS, LINK_PROBE_AFTER_MS, LINK_SILENCE_MAX_MS, UPSTREAM_REQUEST_TIMEOUT_MS } from '../core/limits.ts';
import type { Caller, CallOptions, UpstreamReply } from '../http/client.ts';
import { bearer } from '../http/token.ts';
import type { ClientTls } from '../tls/client.ts';
import { LINK_PATH, LINK_PROTOCOL, type LinkRequest, parseLinkReply } from '../protocol/link.ts';
import { encodeFrame } from './frame.ts';
import { frameSocket } from './socket.ts';

interface OpenCall {
  readonly resolve: (reply: UpstreamReply) => void;
  readonly reject: (error: Error) => void;
  readonly deadline: number;
  readonly timeoutMs: number;
}

export class LinkUpstream implements Caller {
  readonly name: string;
  readonly origin: string;
  private readonly token: string | undefined;
  private readonly tls: ClientTls | undefined;
  private socket: Socket | undefined;
  private connecting: Promise<Socket> | undefined;
  private readonly open = new Map<number, OpenCall>();
  private nextCall = 0;
  private deadlines: NodeJS.Timeout | undefined;
  /** Sends an encoded frame on the open connection (at the end of this turn, with the turn's others). */
  private send: ((frame: Buffer) => void) | undefined;
  private closed = false;
  /** When the peer last said anything, or the link last became busy, whichever is later. */
  private heardAt = 0;
  /** When the deadline timer last ran: a late run means this process stalled, not the peer. */
  private checkedAt = 0;
  private probing = false;
  /** A verdict of "hung" waiting for the loop to read what may be on the socket already. */
  private verdict: NodeJS.Immediate | undefined;

  constructor(name: string, origin: string, options: { token?: string | undefined; tls?: ClientTls | undefined } = {}) {
    this.name = name;
    this.origin = origin;
    this.token = options.token;
    this.tls = options.tls;
  }

  /** A new link to the same peer, as this one was made (to replace one given up). */
  renew(): LinkUpstream {
    return new LinkUpstream(this.name, this.origin, { token: this.token, tls: this.tls });
  }

  call(method: 'GET' | 'POST', path: string, body?: unknown, options: CallOptions = {}): Promise<UpstreamReply> {
    if (this.closed) return Promise.reject(this.unavailable('the link is closed'));
    const timeoutMs = options.timeoutMs ?? UPSTREAM_REQUEST_TIMEOUT_MS;
    const number = this.nextCall;
    this.nextCall = number === Number.MAX_SAFE_INTEGER ? 0 : number + 1;
    const request: LinkRequest = body === undefined ? { i: number, m: method, p: path } : { i: number, m: method, p: path, b: body };
    const frame = encodeFrame(request);
    return new Promise<UpstreamReply>((resolve, reject) => {
      this.open.set(number, { resolve, reject, deadline: performance.now() + timeoutMs, timeoutMs });
      if (this.open.size === 1) this.busy();
      if (this.send !== undefined) {
        this.send(frame);
        return;
      }
      this.connect().then(
        () => {
          if (this.open.has(number)) this.send?.(frame);
        },
        (error: Error) => this.settle(number)?.reject(this.unavailable(error.message, error)),
      );
    });
  }

  close(): Promise<void> {
    this.closed = true;
    this.socket?.destroy();
    this.failAll('the link is closed');
    return Promise.resolve();
  }

  private unavailable(why: string, cause?: unknown): BazaarError {
    return new BazaarError('UPSTREAM_UNAVAILABLE', `${this.name} is unavailable: ${why}`, { cause });
  }

  /** The first call opened: check deadlines, and keep the process alive for the reply. */
  private busy(): void {
    this.heardAt = performance.now();
    this.checkedAt = this.heardAt;
    this.socket?.ref();
    this.deadlines ??= setInterval(() => this.expire(), LINK_DEADLINE_CHECK_MS);
  }

  /** The last call closed. */
  private idle(): void {
    this.socket?.unref();
    clearInterval(this.deadlines);
    this.deadlines = undefined;
    clearImmediate(this.verdict);
    this.verdict = undefined;
  }

  private settle(number: number): OpenCall | undefined {
    const call = this.open.get(number);
    if (call === undefined) return undefined;
    this.open.delete(number);
    if (this.open.size === 0) this.idle();
    return call;
  }

  private expire(): void {
    const now = performance.now();
    for (const [number, call] of this.open) {
      if (call.deadline <= now) this.settle(number)?.reject(this.unavailable(`no answer within ${call.timeoutMs} ms`));
    }
    // Time this process spent stalled past the timer's period was not time spent listening.
    const stalled = now - this.checkedAt - LINK_DEADLINE_CHECK_MS;
    this.checkedAt = now;
    if (stalled > LINK_DEADLINE_CHECK_MS) this.heardAt = Math.min(now, this.heardAt + stalled);
    const socket = this.socket;
    if (socket === undefined || this.open.size === 0) return;
    const silent = now - this.heardAt;
    if (silent >= LINK_SILENCE_MAX_MS) {
      this.verdict ??= setImmediate(() => {
        this.verdict = undefined;
        // Frames read in this turn's poll phase are signs of life.
        const heard = performance.now() - this.heardAt;
        if (this.socket !== socket || this.open.size === 0 || heard < LINK_SILENCE_MAX_MS) return;
        this.socket = undefined;
        this.send = undefined;
        socket.destroy();
        this.failAll(`silent for ${Math.round(heard)} ms with calls open (hung?)`);
      });
    } else if (silent >= LINK_PROBE_AFTER_MS && !this.probing) {
      this.probing = true;
      // Any frame back counts as a sign of life, the probe's reply included; its outcome is not needed.
      this.call('GET', '/health', undefined, { timeoutMs: LINK_SILENCE_MAX_MS }).then(
        () => {
          this.probing = false;
        },
        () => {
          this.probing = false;
        },
      );
    }
  }

  private failAll(why: string): void {
    for (const number of [...this.open.keys()]) this.settle(number)?.reject(this.unavailable(why));
  }

  private connect(): Promise<Socket> {
    this.connecting ??= this.openConnection().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private openConnection(): Promise<Socket> {
    return new Promise<Socket>((resolve, reject) => {
      const url = new URL(this.origin);
      const headers: Record<string, string> = { connection: 'Upgrade', upgrade: LINK_PROTOCOL };
      if (this.token !== undefined) headers.authorization = bearer(this.token);
      const target = { host: url.hostname, port: url.port, path: LINK_PATH, method: 'GET', headers, agent: false } as const;
      // With the cluster's TLS the link is a TLS connection, its handshake paid once for as long as it stays open.
      const request = url.protocol === 'https:' ? httpsRequest({ ...target, ...this.tls }) : httpRequest(target);
      request.setTimeout(UPSTREAM_REQUEST_TIMEOUT_MS, () => request.destroy(new Error(`no link within ${UPSTREAM_REQUEST_TIMEOUT_MS} ms`)));
      request.on('upgrade', (_response, socket, head) => {
        if (this.closed) {
          socket.destroy();
          reject(new Error('the link is closed'));
          return;
        }
        this.attach(socket, head);
        resolve(socket);
      });
      request.on('response', (response) => {
        response.resume();
        reject(new Error(`it answered ${response.statusCode} instead of opening a link`));
      });
      request.on('error', reject);
      request.end();
    });
  }

  private attach(socket: Socket, head: Buffer): void {
    socket.on('error', () => {
      // 'close' follows, and fails what is open.
    });
    socket.on('close', () => {
      if (this.socket === socket) {
        this.socket = undefined;
        this.send = undefined;
      }
      this.failAll('the connection closed');
    });
    this.send = frameSocket(socket, head, {
      parse: parseLinkReply,
      receive: (reply) => {
        this.heardAt = performance.now();
        this.settle(reply.i)?.resolve({ status: reply.s, body: reply.b, errorCode: reply.c });
      },
      bad: () => {},
    });
    this.socket = socket;
    if (this.open.size === 0) socket.unref();
  }

}
