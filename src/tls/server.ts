// The serving end of the cluster's TLS. Every role's port speaks TLS 1.3 with its own certificate
// and asks each peer for one. A peer whose certificate is refused (another CA, expired, a name that
// is no role of this cluster) is cut right after its handshake, before a byte of its request is read,
// and the role logs who it was and why. A peer with no certificate is cut too, except on a frontend,
// whose public API is for anyone: there it may use the public routes, and an internal route or a link
// answers 403 (http/server.ts asks `roleOf`).
//
// A frontend with its own public certificate (`frontend.tls`) shows it to the public, and its
// cluster certificate to the roles, which ask for it by name (SNI: the frontend's role name).
import type { ServerOptions } from 'node:https';
import type { Socket } from 'node:net';
import { createSecureContext, type SecureContext, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';
import type { PublicTls } from '../core/config.ts';
import { ConfigError } from '../core/errors.ts';
import { TLS_HANDSHAKE_TIMEOUT_MS, TLS_REFUSAL_LOG_INTERVAL_MS } from '../core/limits.ts';
import type { Logger } from '../core/logger.ts';
import type { RoleTls } from './material.ts';
import { judgePeer } from './peer.ts';

export interface TlsListener {
  /** Whether peers prove they are roles of the cluster (mutual TLS); false for a public certificate alone. */
  readonly mutual: boolean;
  /** Options for https.createServer. */
  readonly options: ServerOptions;
  /** Installs the check of every peer on the server (before the HTTP layer sees the connection). */
  guard(server: TlsServer): void;
  /** The role a connection's peer proved it is; undefined for a public client (or a plain socket). */
  roleOf(socket: Socket): string | undefined;
}

export interface ListenerOptions {
  /** The role's name in its log lines ("catalog", "order 2"). */
  readonly label: string;
  readonly tls: RoleTls;
  readonly logger: Logger;
  /** A frontend: peers without a certificate may use the public routes. */
  readonly publicAllowed?: boolean;
  /** The frontend's own certificate for the public (`frontend.tls`, read by readKeyPair). */
  readonly publicPair?: KeyPair | undefined;
}

/** A certificate and its key, as PEM. */
export interface KeyPair {
  readonly cert: Buffer;
  readonly key: Buffer;
}

/** One line per kind of trouble per interval, with how many were not logged since: a scan cannot flood the log. */
class RefusalLog {
  private readonly last = new Map<string, { at: number; quiet: number }>();
  constructor(private readonly logger: Logger) {}

  note(kind: string, line: string): void {
    const now = performance.now();
    const seen = this.last.get(kind);
    if (seen !== undefined && now - seen.at < TLS_REFUSAL_LOG_INTERVAL_MS) {
      seen.quiet += 1;
      return;
    }
    if (this.last.size > 64) this.last.clear();
    this.last.set(kind, { at: now, quiet: 0 });
    this.logger.warn(seen !== undefined && seen.quiet > 0 ? `${line} (and ${seen.quiet} more like it since the last such line)` : line);
  }
}

/** Garbage, plain HTTP, a wrong version or a handshake cut short: the socket is closed and the kind logged. */
function noteFailedHandshakes(server: TlsServer, label: string, refusals: RefusalLog): void {
  server.on('tlsClientError', (error: Error & { code?: string }, socket: TLSSocket) => {
    socket.destroy();
    refusals.note(`handshake ${error.code ?? error.message}`, `${label}: a TLS handshake from ${socket.remoteAddress ?? 'a peer'} failed: ${error.code ?? ''} ${error.message.slice(0, 160)}`);
  });
}

/** A frontend's own certificate and key (`frontend.tls`), read once at start. */
export function readKeyPair(publicTls: PublicTls): KeyPair {
  const read = (file: string, what: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (error) {
      throw new ConfigError(`frontend.tls.${what}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
  };
  return { cert: read(publicTls.cert, 'cert'), key: read(publicTls.key, 'key') };
}

/**
 * HTTPS with one certificate and no client certificates: a frontend's own (`frontend.tls`) on a
 * cluster without `tls`, or the dashboard's page.
 */
export function publicListener(pair: KeyPair, label: string, logger: Logger): TlsListener {
  const refusals = new RefusalLog(logger);
  return {
    mutual: false,
    options: { cert: pair.cert, key: pair.key, minVersion: 'TLSv1.2', handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS },
    roleOf: () => undefined,
    guard: (server) => noteFailedHandshakes(server, label, refusals),
  };
}

export function tlsListener(options: ListenerOptions): TlsListener {
  const { tls, label } = options;
  const roles = new WeakMap<Socket, string>();
  const refusals = new RefusalLog(options.logger);
  const cluster: ServerOptions = { ca: tls.ca, cert: tls.cert, key: tls.key };
  let serverOptions: ServerOptions = {
    ...cluster,
    minVersion: 'TLSv1.3',
    // Every peer is asked for a certificate; the verdict is ours (guard), so that it can be logged
    // with the peer's name, and so that a frontend can let a public client in without one.
    requestCert: true,
    rejectUnauthorized: false,
    handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
  };
  const pair = options.publicPair;
  if (pair !== undefined) {
    const publicContext = createSecureContext({ cert: pair.cert, key: pair.key, ca: tls.ca, minVersion: 'TLSv1.3' });
    const clusterContext: SecureContext = createSecureContext({ ...cluster, minVersion: 'TLSv1.3' });
    serverOptions = {
      ...serverOptions,
      cert: pair.cert,
      key: pair.key,
      SNICallback: (servername, done) => done(null, servername === tls.name ? clusterContext : publicContext),
    };
  }

  return {
    mutual: true,
    options: serverOptions,
    roleOf: (socket) => roles.get(socket),
    guard: (server) => {
      // First among the listeners: the HTTP layer attaches to the socket after this has judged it.
      server.prependListener('secureConnection', (socket: TLSSocket) => {
        const verdict = judgePeer(socket, tls);
        if (verdict !== undefined && 'role' in verdict) {
          roles.set(socket, verdict.role);
          return;
        }
        if (verdict === undefined && options.publicAllowed === true) return;
        const why = verdict === undefined ? 'it showed no certificate' : verdict.refused;
        const who = verdict === undefined ? '' : ` (${verdict.who})`;
        refusals.note(`refused ${why}`, `${label}: refused a TLS peer from ${socket.remoteAddress}:${socket.remotePort}${who}: ${why}`);
        socket.destroy();
      });
      noteFailedHandshakes(server, label, refusals);
    },
  };
}
