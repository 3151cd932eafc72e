// One declaration per internal message, read by both ends (after fastify's route schemas): its
// method and path, how the receiver parses a request and how the caller parses the reply. The
// route tables serve a declaration (http/message.ts `serve`) and the callers send one (`send`), so
// an internal path is spelled only here, in src/protocol/.

import { BazaarError } from '../core/errors.ts';

/** What a request brings in: its path parameters, its query, and its JSON body (POST only). */
export interface MessageInput {
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  readonly body: unknown;
}

export interface Message<Request, Reply> {
  readonly method: 'GET' | 'POST';
  /** The route pattern; each `:name` part is a path parameter. */
  readonly path: string;
  /** The path a call carrying `request` goes to (parameters and query filled in). */
  readonly target: (request: Request) => string;
  /** The JSON body a call carries (POST only). */
  readonly body?: (request: Request) => unknown;
  /** Receiver side: untrusted input into a typed request (BAD_REQUEST when it is not one). */
  readonly parseRequest: (input: MessageInput) => Request;
  /** Caller side: the reply's `data` into a typed reply (UPSTREAM_BAD_REPLY when it is not one). */
  readonly parseReply: (data: unknown, request: Request) => Reply;
  /** Largest request body the receiver reads, when not the server's default. */
  readonly bodyBytesMax?: number;
  /** The status of a successful reply, when not 200. */
  readonly status?: number;
}

/** A message whose request is its JSON body, sent as is, to a path without parameters. */
export function post<Request, Reply>(path: string, parseBody: (body: unknown) => Request, parseReply: (data: unknown, request: Request) => Reply, options: { bodyBytesMax?: number; status?: number; body?: (request: Request) => unknown } = {}): Message<Request, Reply> {
  return Object.freeze({
    method: 'POST' as const,
    path,
    target: () => path,
    body: options.body ?? ((request: Request) => request),
    parseRequest: (input: MessageInput) => parseBody(input.body),
    parseReply,
    ...(options.bodyBytesMax === undefined ? {} : { bodyBytesMax: options.bodyBytesMax }),
    ...(options.status === undefined ? {} : { status: options.status }),
  });
}

/** A GET whose request is read from the path and query. */
export function get<Request, Reply>(path: string, target: (request: Request) => string, parseRequest: (input: MessageInput) => Request, parseReply: (data: unknown, request: Request) => Reply): Message<Request, Reply> {
  return Object.freeze({ method: 'GET' as const, path, target, parseRequest, parseReply });
}

/** A count from the query, or `fallback` when absent; BAD_REQUEST when it is not a non-negative integer. */
export function queryCount(query: URLSearchParams, name: string, fallback: number, min = 0): number {
  const text = query.get(name);
  if (text === null) return fallback;
  const value = /^\d{1,15}$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= min)) throw new BazaarError('BAD_REQUEST', `query parameter "${name}" must be an integer of at least ${min}`);
  return value;
}

/** The reply of a message that answers only that it was done. */
export function parseDone(data: unknown): { ok: true } {
  if ((data as { ok?: unknown } | null)?.ok !== true) throw new BazaarError('UPSTREAM_BAD_REPLY', 'the reply does not say ok');
  return { ok: true };
}
