// The calling end of the cluster's TLS: a role shows its own certificate, trusts only the cluster's
// CA, and checks that the peer it reached is the role it meant (by the certificate's name, not by
// the address: on one machine every role has the same one). It asks for that role by name (SNI), which
// is how a frontend with a public certificate knows to show its cluster one.
import { readFileSync } from 'node:fs';
import type { ConnectionOptions, PeerCertificate } from 'node:tls';
import { ConfigError } from '../core/errors.ts';
import type { RoleTls } from './material.ts';
import { nameProblem } from './peer.ts';

export type ClientTls = Pick<ConnectionOptions, 'ca' | 'cert' | 'key' | 'minVersion' | 'servername' | 'checkServerIdentity' | 'rejectUnauthorized'>;

/** How role `tls` calls role `peer` (a name of names.ts); undefined without TLS. */
export function callTls(tls: RoleTls | undefined, peer: string): ClientTls | undefined {
  if (tls === undefined) return undefined;
  return {
    ca: tls.ca,
    cert: tls.cert,
    key: tls.key,
    minVersion: 'TLSv1.3',
    servername: peer,
    checkServerIdentity: (_host: string, cert: PeerCertificate) => {
      const problem = nameProblem(cert, tls, peer);
      return problem === undefined ? undefined : new Error(`the peer is not ${peer}: ${problem}`);
    },
  };
}

/** A public client's trust (`bazaar client --ca`): this CA file instead of the system's. */
export function trustedCa(file: string): ClientTls {
  try {
    return { ca: readFileSync(file) };
  } catch (error) {
    throw new ConfigError(`--ca: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}
