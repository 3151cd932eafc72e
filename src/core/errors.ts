// Operating errors: each has a stable code, the HTTP status it maps to, and a message that tells the
// user what happened. Programmer errors are assertions (node:assert), never these.

export const ERROR_STATUS = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  /** An internal endpoint or link asked for by a peer without a certificate of this cluster (with `tls` on). */
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  STOCK_NOT_FOUND: 404,
  ORDER_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  INSUFFICIENT_QUANTITY: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  IDEMPOTENCY_KEY_REUSED: 422,
  INTERNAL: 500,
  UPSTREAM_BAD_REPLY: 502,
  NOT_LEADER: 503,
  NO_QUORUM: 503,
  STALE_EPOCH: 409,
  /** An action that cannot run now (the dashboard's load while one runs). */
  BUSY: 409,
  NO_LEADER: 503,
  UPSTREAM_UNAVAILABLE: 503,
  SHUTTING_DOWN: 503,
  STORAGE_FAILED: 503,
  /** The catalog is being brought level with the order log (after a restart or a lost disk). */
  CATALOG_REBUILDING: 503,
  /** An order replica recovering from a lost or damaged disk: it neither leads nor votes yet. */
  RECOVERING: 503,
  OVERLOADED: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** Header that carries the stable error code between our own services (the public body keeps the lab's shape). */
export const ERROR_CODE_HEADER = 'bazaar-error';

export class BazaarError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Seconds a client should wait before retrying; set on 503s. */
  readonly retryAfterS: number | undefined;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; retryAfterS?: number } = {}) {
    super(message, { cause: options.cause });
    this.name = 'BazaarError';
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.retryAfterS = options.retryAfterS ?? (this.status === 503 ? 1 : undefined);
  }
}

export function isErrorCode(value: string): value is ErrorCode {
  return Object.hasOwn(ERROR_STATUS, value);
}

/** A configuration problem found at start; the message names the key. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}
