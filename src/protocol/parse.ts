// The small checks every protocol parser is made of. Each names the field it refuses, and throws the
// error code its caller chose: BAD_REQUEST for a request we serve, UPSTREAM_BAD_REPLY for a reply.
import { BazaarError } from '../core/errors.ts';

export type Refusal = 'BAD_REQUEST' | 'UPSTREAM_BAD_REPLY';
export type Obj = Record<string, unknown>;

export function object(value: unknown, what: string, code: Refusal = 'BAD_REQUEST'): Obj {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new BazaarError(code, `${what} must be a JSON object`);
  return value as Obj;
}

export function count(value: unknown, field: string, min = 0, code: Refusal = 'BAD_REQUEST'): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) throw new BazaarError(code, `field "${field}" must be an integer of at least ${min}`);
  return value;
}

export function text(value: unknown, field: string, code: Refusal = 'BAD_REQUEST'): string {
  if (typeof value !== 'string') throw new BazaarError(code, `field "${field}" must be a string`);
  return value;
}

export function list(value: unknown, field: string, max: number, code: Refusal = 'BAD_REQUEST'): unknown[] {
  if (!Array.isArray(value) || value.length > max) throw new BazaarError(code, `field "${field}" must be an array of at most ${max} items`);
  return value;
}

/** Runs a parser of our own vocabulary (which throws BAD_REQUEST) on a reply: a bad one is the upstream's fault. */
export function fromUpstream<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw new BazaarError('UPSTREAM_BAD_REPLY', (error as Error).message, { cause: error });
  }
}

export function flag(value: unknown, field: string, code: Refusal = 'BAD_REQUEST'): boolean {
  if (typeof value !== 'boolean') throw new BazaarError(code, `field "${field}" must be true or false`);
  return value;
}

export function oneOf<T extends string>(value: unknown, field: string, allowed: readonly T[], code: Refusal = 'BAD_REQUEST'): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) throw new BazaarError(code, `field "${field}" must be one of ${allowed.join(', ')}`);
  return value as T;
}
