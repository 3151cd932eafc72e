// node:http plumbing every role shares: routing with 404/405, JSON bodies read under a size limit,
// every error in the `{"error":{"code","message"}}` shape, optional bearer token, and a graceful
// close (stop accepting, drain, 503 to what still arrives, then cut what is left). Requests that come
// as frames on a link (link/server.ts) take the same routes under the same policies.
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerOptions, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { BazaarError, ERROR_CODE_HEADER } from '../core/errors.ts';
import {
  LINK_REQUEST_OVERHEAD_BYTES,
  REQUEST_BODY_BYTES_MAX,
  SERVER_DRAIN_TIMEOUT_MS,
  SERVER_HEADERS_TIMEOUT_MS,
  SERVER_IN_FLIGHT_MAX,
  SERVER_KEEP_ALIVE_TIMEOUT_MS,
  SERVER_CONNECTIONS_MAX,
  SERVER_REQUEST_TIMEOUT_MS,
  SERVER_SOCKET_IDLE_TIMEOUT_MS,
  SERVER_TIMEOUT_CHECK_INTERVAL_MS,
} from '../core/limits.ts';
import type { Logger } from '../core/logger.ts';
import { serveLinks } from '../link/server.ts';
import type { LinkReply, LinkRequest } from '../protocol/link.ts';
import type { TlsListener } from '../tls/server.ts';
import { tokenMatches } from './token.ts';

export interface Reply {
  readonly status?: number;
  /** Sent as JSON, or as text/plain when it is a string. */
  readonly body?: unknown;
  /** A body already serialized as JSON (a cached reply); sent as is instead of `body`. */
  readonly json?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface RequestContext {
  /** The request's headers; none for a request that came on a link. */
  readonly headers: IncomingHttpHeaders;
  /** Path segments captured by the route's `:name` parts, percent-decoded. */
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  /** Reads and parses the JSON body (400 if malformed, 413 if too large, 415 if not JSON). */
  json(): Promise<unknown>;
}

export interface Route {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Like `/stocks/:name`; each `:part` matches one non-empty path segment. */
  readonly path: string;
  /** Whether the route needs the cluster token (when one is configured). */
  readonly internal?: boolean;
  /** Largest body this route reads; REQUEST_BODY_BYTES_MAX when not given. */
  readonly bodyBytesMax?: number;
  readonly handler: (context: RequestContext) => Promise<Reply> | Reply;
}

export interface JsonServerOptions {
  readonly name: string;
  readonly routes: readonly Route[];
  readonly logger: Logger;
  readonly token?: string | undefined;
  /** Called after every reply, for metrics. */
  readonly onReply?: (route: string, status: number, durationMs: number) => void;
  /** Requests worked on at once at most (SERVER_IN_FLIGHT_MAX when not given); past it, 503 at once. */
  readonly inFlightMax?: number;
  /**
   * Tried first, synchronously, for every request while the server is open: returns true if it
   * answered (a cache hit), false to let the request take the general path.
   */
  readonly fastPath?: (req: IncomingMessage, res: ServerResponse) => boolean;
  /**
   * The role's storage failure policy: called when any route fails with STORAGE_FAILED (after the
   * error reply is sent), whichever route it was, so no route that touches storage can forget it.
   */
  readonly onStorageFailure?: (error: BazaarError) => void;
  /** HTTPS: the cluster's mutual TLS (tls/server.ts), or a frontend's public certificate alone. */
  readonly tls?: TlsListener | undefined;
}

export interface JsonServer {
  readonly server: Server;
  listen(host: string, port: number): Promise<AddressInfo>;
  close(): Promise<void>;
}

interface CompiledRoute extends Route {
  readonly segments: readonly string[];
  /** `METHOD /path`, as metrics label it. */
  readonly name: string;
}

export function errorBody(status: number, message: string): { error: { code: number; message: string } } {
  return { error: { code: status, message } };
}

function send(res: ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}, serialized = false): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const plain = typeof body === 'string' && !serialized;
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, {
    'content-type': plain ? 'text/plain; version=0.0.4; charset=utf-8' : 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

export function sendError(res: ServerResponse, error: BazaarError): void {
  const headers: Record<string, string> = { [ERROR_CODE_HEADER]: error.code };
  if (error.retryAfterS !== undefined) headers['retry-after'] = String(error.retryAfterS);
  if (error.code === 'PAYLOAD_TOO_LARGE') headers.connection = 'close';
  send(res, error.status, errorBody(error.status, error.message), headers);
}

/** The request's body, up to `limit` bytes (413 past it). Listeners, not an async iterator: cheaper on every POST. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    return Promise.reject(new BazaarError('PAYLOAD_TOO_LARGE', `request body is larger than ${limit} bytes`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const fail = (error: Error): void => {
      if (settled) return;
      settled = true;
      reject(error);
    };
    req.on('data', (chunk: Buffer) => {
      if (settled) return;
      size += chunk.length;
      // The rest is not read: the 413 reply closes the connection.
      if (size > limit) return fail(new BazaarError('PAYLOAD_TOO_LARGE', `request body is larger than ${limit} bytes`));
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (settled) return;
      settled = true;
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
    });
    req.on('error', fail);
    req.on('close', () => {
      if (!settled) fail(new BazaarError('BAD_REQUEST', 'the client closed the connection before the body ended'));
    });
  });
}

async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const type = req.headers['content-type'];
  if (type !== undefined && !/^application\/(.+\+)?json\s*(;.*)?$/i.test(type)) {
    throw new BazaarError('UNSUPPORTED_MEDIA_TYPE', `content-type must be application/json, not ${JSON.stringify(type.slice(0, 60))}`);
  }
  const body = await readBody(req, limit);
  if (body.length === 0) throw new BazaarError('BAD_REQUEST', 'request body is empty; send a JSON object');
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new BazaarError('BAD_REQUEST', `request body is not valid JSON: ${(error as Error).message}`);
  }
}

function matchRoute(route: CompiledRoute, segments: readonly string[]): Record<string, string> | undefined {
  if (route.segments.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (const [index, pattern] of route.segments.entries()) {
    const segment = segments[index]!;
    if (pattern.startsWith(':')) {
      if (segment.length === 0) return undefined;
      params[pattern.slice(1)] = segment;
    } else if (pattern !== segment) {
      return undefined;
    }
  }
  return params;
}

/** What a route's handler is given, whether the request came over HTTP or on a link; the query is parsed only if read. */
function context(headers: IncomingHttpHeaders, params: Readonly<Record<string, string>>, queryText: string, json: () => Promise<unknown>): RequestContext {
  return {
    headers,
    params,
    get query() {
      return new URLSearchParams(queryText);
    },
    json,
  };
}

/** Splits an origin-form target (`/path?query`) by hand (this runs on every request); anything else goes through the URL parser. */
function splitTarget(target: string): { pathname: string; queryText: string } {
  if (target.startsWith('/')) {
    const queryAt = target.indexOf('?');
    return { pathname: queryAt === -1 ? target : target.slice(0, queryAt), queryText: queryAt === -1 ? '' : target.slice(queryAt + 1) };
  }
  const url = new URL(target, 'http://localhost');
  return { pathname: url.pathname, queryText: url.search.slice(1) };
}

export function createJsonServer(options: JsonServerOptions): JsonServer {
  const { logger, token } = options;
  /** With the cluster's mutual TLS: whether a connection's peer proved it is a role of the cluster (internal routes and links need it). */
  const isRole = options.tls?.mutual === true ? (socket: Socket): boolean => options.tls!.roleOf(socket) !== undefined : undefined;
  const routes: CompiledRoute[] = options.routes.map((route) => ({ ...route, segments: route.path.split('/').slice(1), name: `${route.method} ${route.path}` }));
  let closing = false;
  let inFlight = 0;
  const inFlightMax = options.inFlightMax ?? SERVER_IN_FLIGHT_MAX;
  let drained: (() => void) | undefined;

  /** The route a request names, or the error that says why none does (with the methods allowed, for a 405). */
  const findRoute = (method: string | undefined, pathname: string): { route: CompiledRoute; params: Record<string, string> } | { error: BazaarError; allowed?: string } => {
    const segments = pathname.split('/');
    segments.shift();
    let decoded: string[];
    try {
      decoded = segments.map((segment) => (segment.includes('%') ? decodeURIComponent(segment) : segment));
    } catch {
      return { error: new BazaarError('BAD_REQUEST', 'the path has a malformed percent-encoding') };
    }
    let pathKnown = false;
    for (const route of routes) {
      const params = matchRoute(route, decoded);
      if (params === undefined) continue;
      pathKnown = true;
      if (route.method === method) return { route, params };
    }
    if (!pathKnown) return { error: new BazaarError('NOT_FOUND', `no such endpoint: ${pathname.slice(0, 80)}`) };
    const allowed = [...new Set(routes.filter((route) => matchRoute(route, decoded) !== undefined).map((route) => route.method))].join(', ');
    return { error: new BazaarError('METHOD_NOT_ALLOWED', `method ${String(method).slice(0, 20)} is not allowed on ${pathname.slice(0, 80)}; use ${allowed}`), allowed };
  };

  const checkLoad = (route: CompiledRoute): void => {
    // Internal routes are exempt: their callers (the catalog's push, replication) bound themselves.
    if (inFlight > inFlightMax && route.internal !== true) {
      throw new BazaarError('OVERLOADED', `${options.name} is working on ${inFlightMax} requests already; retry shortly`, { retryAfterS: 1 });
    }
  };

  const shuttingDown = (): BazaarError => new BazaarError('SHUTTING_DOWN', `${options.name} is shutting down; retry on another instance or later`);

  /** Counts a request in; the returned function counts it out, with what it was answered. */
  const track = (): ((route: string, status: number) => void) => {
    const startedAt = performance.now();
    inFlight += 1;
    return (route, status) => {
      inFlight -= 1;
      options.onReply?.(route, status, performance.now() - startedAt);
      if (closing && inFlight === 0) drained?.();
    };
  };

  /** An error a route failed with, as the caller will see it; applies the storage failure policy. */
  const asReplyError = (error: unknown, what: string): BazaarError => {
    if (error instanceof BazaarError) {
      if (error.code === 'STORAGE_FAILED') queueMicrotask(() => options.onStorageFailure?.(error));
      return error;
    }
    logger.error(`${options.name}: unexpected error on ${what}: ${(error as Error)?.stack ?? String(error)}`);
    return new BazaarError('INTERNAL', 'internal error; it has been logged');
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<string> => {
    if (closing) {
      res.setHeader('connection', 'close');
      throw shuttingDown();
    }
    const { pathname, queryText } = splitTarget(req.url ?? '/');
    const found = findRoute(req.method, pathname);
    if ('error' in found) {
      if (found.allowed !== undefined) res.setHeader('allow', found.allowed);
      throw found.error;
    }
    const { route, params } = found;
    checkLoad(route);
    if (route.internal === true && isRole !== undefined && !isRole(req.socket)) {
      throw new BazaarError('FORBIDDEN', 'this internal endpoint is for the roles of the cluster: connect with a certificate signed by its CA');
    }
    if (route.internal === true && token !== undefined && !tokenMatches(req.headers.authorization, token)) {
      throw new BazaarError('UNAUTHORIZED', 'this internal endpoint needs the cluster token: Authorization: Bearer <token>');
    }
    const reply = await route.handler(context(req.headers, params, queryText, () => readJson(req, route.bodyBytesMax ?? REQUEST_BODY_BYTES_MAX)));
    send(res, reply.status ?? 200, reply.json ?? reply.body, reply.headers, reply.json !== undefined);
    return route.name;
  };

  /** A request that came as a frame on a link: authenticated when the link opened, otherwise as over HTTP. */
  const dispatch = async (request: LinkRequest, bytes: number): Promise<LinkReply> => {
    const done = track();
    let routeName = 'unmatched';
    let reply: LinkReply;
    try {
      if (closing) throw shuttingDown();
      const { pathname, queryText } = splitTarget(request.p);
      const found = findRoute(request.m, pathname);
      if ('error' in found) throw found.error;
      const { route, params } = found;
      routeName = route.name;
      const bodyBytesMax = route.bodyBytesMax ?? REQUEST_BODY_BYTES_MAX;
      if (bytes > bodyBytesMax + LINK_REQUEST_OVERHEAD_BYTES) throw new BazaarError('PAYLOAD_TOO_LARGE', `request body is larger than ${bodyBytesMax} bytes`);
      checkLoad(route);
      const json = (): Promise<unknown> => (request.b === undefined ? Promise.reject(new BazaarError('BAD_REQUEST', 'request body is empty; send a JSON object')) : Promise.resolve(request.b));
      const answer = await route.handler(context({}, params, queryText, json));
      reply = { i: request.i, s: answer.status ?? 200, b: answer.json === undefined ? answer.body : JSON.parse(answer.json) };
    } catch (caught) {
      const error = asReplyError(caught, `${request.m} ${request.p.slice(0, 80)} (link)`);
      reply = { i: request.i, s: error.status, b: errorBody(error.status, error.message), c: error.code };
    }
    done(routeName, reply.s);
    return reply;
  };

  // Node checks the timeouts every 30 s by default, which lets a slow client hold a socket far past
  // them; check every second instead.
  const serverOptions: ServerOptions = { headersTimeout: SERVER_HEADERS_TIMEOUT_MS, requestTimeout: SERVER_REQUEST_TIMEOUT_MS, connectionsCheckingInterval: SERVER_TIMEOUT_CHECK_INTERVAL_MS };
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    if (!closing && options.fastPath?.(req, res) === true) return;
    const done = track();
    handle(req, res).then(
      (route) => done(route, res.statusCode),
      (error: unknown) => {
        sendError(res, asReplyError(error, `${req.method} ${req.url}`));
        done('unmatched', res.statusCode);
      },
    );
  };
  let server: Server;
  if (options.tls === undefined) server = createServer(serverOptions, onRequest);
  else {
    const secure = createTlsServer({ ...serverOptions, ...options.tls.options }, onRequest);
    options.tls.guard(secure);
    server = secure;
  }
  const links = serveLinks(server, { name: options.name, token, dispatch, logger, admit: isRole });
  server.keepAliveTimeout = SERVER_KEEP_ALIVE_TIMEOUT_MS;
  // Node closes nothing that never sends a byte; these bound what idle or hostile clients can hold.
  server.timeout = SERVER_SOCKET_IDLE_TIMEOUT_MS;
  server.maxConnections = SERVER_CONNECTIONS_MAX;
  // A malformed request line or headers never reaches the handler: answer it in the same error shape.
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    if (!socket.writable || error.code?.startsWith('HPE_') !== true) {
      socket.destroy();
      return;
    }
    const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    const body = JSON.stringify(errorBody(status, status === 431 ? 'request headers are too large' : 'malformed HTTP request'));
    socket.end(`HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  });

  let closePromise: Promise<void> | undefined;
  return {
    server,
    listen: (host, port) =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve(server.address() as AddressInfo);
        });
      }),
    close: () => {
      closePromise ??= new Promise<void>((resolve) => {
        closing = true;
        links.stop();
        server.close(() => resolve());
        server.closeIdleConnections();
        const allDrained = new Promise<void>((done) => {
          if (inFlight === 0) done();
          else drained = done;
        });
        const timer = setTimeout(() => {
          links.closeAll();
          server.closeAllConnections();
        }, SERVER_DRAIN_TIMEOUT_MS);
        void allDrained.then(() => {
          clearTimeout(timer);
          // Links are not HTTP connections the server tracks as idle: close them here, or close never ends.
          links.closeAll();
          server.closeIdleConnections();
        });
      });
      return closePromise;
    },
  };
}
