// Judging the other end of a TLS connection, on either side: the cluster's CA must have signed its
// certificate (Node checks the chain and the dates), and the certificate must name a role of this
// cluster (checked here). A caller also checks that the role it reached is the one it meant to.
import type { PeerCertificate, TLSSocket } from 'node:tls';
import type { RoleTls } from './material.ts';

export type PeerVerdict = { readonly role: string } | { readonly refused: string; readonly who: string };

function field(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function describe(cert: PeerCertificate | undefined): string {
  if (cert === undefined || cert.subject === undefined) return 'no certificate';
  return `${field(cert.subject.CN) ?? '(no CN)'} of "${field(cert.subject.O) ?? ''}"`;
}

/** Whether a certificate signed by the CA names a role of this cluster: undefined if it does, else why not. */
export function nameProblem(cert: PeerCertificate, tls: RoleTls, expected?: string): string | undefined {
  const cn = field(cert.subject?.CN);
  const o = field(cert.subject?.O);
  if (o !== tls.cluster) return `its certificate is of cluster "${o ?? ''}", not "${tls.cluster}"`;
  if (cn === undefined || !tls.names.has(cn)) return `its certificate names ${cn ?? 'nothing'}, no role of this cluster`;
  if (expected !== undefined && cn !== expected) return `its certificate names ${cn}, not ${expected}`;
  return undefined;
}

/** The peer a server-side socket presented, after its handshake: a role of this cluster, or why it is refused. */
export function judgePeer(socket: TLSSocket, tls: RoleTls): PeerVerdict | undefined {
  const cert = socket.getPeerCertificate();
  const presented = cert !== undefined && cert !== null && Object.keys(cert).length > 0;
  if (!presented) return undefined;
  const who = describe(cert);
  if (!socket.authorized) return { refused: `its certificate is refused: ${String(socket.authorizationError)}`, who };
  const problem = nameProblem(cert, tls);
  return problem === undefined ? { role: field(cert.subject.CN)! } : { refused: problem, who };
}
