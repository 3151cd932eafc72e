// Between our own roles (frontend -> leader, leader -> catalog and followers, catalog -> frontend):
// the same routes as over HTTP, each call one frame on a link (link/), so many calls share one
// connection and one write. A request names the route as HTTP would; a reply carries what an HTTP
// reply would: the status, the JSON body and our stable error code.
import { BazaarError } from '../core/errors.ts';

/** The HTTP path a link is opened on (an `Upgrade: bazaar-link` request), on the role's own port. */
export const LINK_PATH = '/internal/link';
/** The protocol name in the `Upgrade` header. */
export const LINK_PROTOCOL = 'bazaar-link';

export interface LinkRequest {
  /** Call number, unique on its link while the call is open; the reply carries it back. */
  readonly i: number;
  readonly m: 'GET' | 'POST';
  /** Path and query, as in an HTTP request line. */
  readonly p: string;
  /** The JSON body, if the call has one. */
  readonly b?: unknown;
}

export interface LinkReply {
  readonly i: number;
  /** The HTTP status the route answered with. */
  readonly s: number;
  readonly b?: unknown;
  /** Our stable error code, on an error. */
  readonly c?: string;
}

const isCallNumber = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

export function parseLinkRequest(value: unknown): LinkRequest {
  const frame = value as Partial<LinkRequest> | null;
  if (frame === null || typeof frame !== 'object' || !isCallNumber(frame.i) || (frame.m !== 'GET' && frame.m !== 'POST') || typeof frame.p !== 'string' || !frame.p.startsWith('/')) {
    throw new BazaarError('BAD_REQUEST', 'not a link request: {i, m: "GET"|"POST", p: "/path", b?}');
  }
  return frame as LinkRequest;
}

export function parseLinkReply(value: unknown): LinkReply {
  const frame = value as Partial<LinkReply> | null;
  if (frame === null || typeof frame !== 'object' || !isCallNumber(frame.i) || !isCallNumber(frame.s) || (frame.c !== undefined && typeof frame.c !== 'string')) {
    throw new BazaarError('UPSTREAM_BAD_REPLY', 'not a link reply: {i, s, b?, c?}');
  }
  return frame as LinkReply;
}
