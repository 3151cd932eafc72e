// catalog -> frontend: the push that keeps a frontend's cache honest (numbered per link, every stock
// changed since the last acknowledged message with its version, and a lease). The frontend answers
// `{ok: true}` once it applied it. How the catalog sends it: catalog/invalidator.ts; how the
// frontend applies it: frontend/cache.ts.
import { BazaarError } from '../core/errors.ts';
import { PUSH_INVALIDATIONS_MAX } from '../core/limits.ts';
import { parseDone, post } from './message.ts';

export interface Invalidation {
  readonly name: string;
  readonly version: number;
}

/** What the catalog sends a frontend. */
export interface InvalidationMessage {
  /** The `to` of the link's last acknowledged message; -1 for its first (the frontend starts over). */
  readonly from: number;
  readonly to: number;
  readonly invalidations: readonly Invalidation[];
  /** Wall-clock milliseconds until which the frontend may serve from its cache. */
  readonly leaseUntil: number;
}


export function parseInvalidationMessage(body: unknown): InvalidationMessage {
  const value = body as Partial<InvalidationMessage> | null;
  const integer = (item: unknown, min: number): item is number => typeof item === 'number' && Number.isSafeInteger(item) && item >= min;
  const valid =
    value !== null &&
    typeof value === 'object' &&
    integer(value.from, -1) &&
    integer(value.to, 0) &&
    integer(value.leaseUntil, 0) &&
    Array.isArray(value.invalidations) &&
    value.invalidations.length <= PUSH_INVALIDATIONS_MAX &&
    value.invalidations.every((item: Partial<Invalidation>) => typeof item?.name === 'string' && integer(item.version, 0));
  if (!valid) throw new BazaarError('BAD_REQUEST', 'not an invalidation message: {from, to, invalidations: [{name, version}], leaseUntil}');
  return { from: value.from!, to: value.to!, invalidations: value.invalidations!, leaseUntil: value.leaseUntil! };
}

/** catalog -> frontend: what changed since the last push, and a lease. */
export const INVALIDATE = post('/internal/cache/invalidate', parseInvalidationMessage, parseDone);
