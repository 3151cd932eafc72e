// A role's TLS material, read once at start from the cluster's TLS folder: the cluster's CA and the
// role's own certificate and key. Everything that would make every handshake fail later is said now,
// in one line that names the file: a missing file, a certificate of another role or cluster, one not
// signed by this CA, one expired or not yet valid. A key that others can read is a warning.
import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../core/config.ts';
import { ConfigError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { CA_CERT_FILE, clusterNames, subjectOf } from './names.ts';

export interface RoleTls {
  /** This role's name, as its certificate says (CN). */
  readonly name: string;
  readonly cluster: string;
  /** The names a peer may carry (clusterNames). */
  readonly names: ReadonlySet<string>;
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
}

function read(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new ConfigError(`tls: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); make the cluster's certificates with \`bazaar certs\` (docs/security.md)`);
  }
}

/** Role `name`'s certificate and key files in the cluster's TLS folder. */
function roleCertFiles(dir: string, name: string): { cert: string; key: string } {
  return { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
}

/** Role `name`'s material, or undefined when the cluster has no `tls`; a ConfigError if it cannot serve. */
export function loadRoleTls(config: Config, name: string, logger?: Logger, now = new Date()): RoleTls | undefined {
  if (config.tls === undefined) return undefined;
  const { dir } = config.tls;
  const caFile = path.join(dir, CA_CERT_FILE);
  const { cert: certFile, key: keyFile } = roleCertFiles(dir, name);
  const ca = read(caFile);
  const cert = read(certFile);
  const key = read(keyFile);
  let parsed: X509Certificate;
  let caParsed: X509Certificate;
  try {
    caParsed = new X509Certificate(ca);
    parsed = new X509Certificate(cert);
  } catch (error) {
    throw new ConfigError(`tls: ${certFile} or ${caFile} is not a PEM certificate (${(error as Error).message})`);
  }
  const subject = subjectOf(parsed.subject);
  if (subject.cn !== name || subject.o !== config.cluster) {
    throw new ConfigError(`tls: ${certFile} is ${subject.cn ?? '(no name)'} of cluster "${subject.o ?? ''}", not ${name} of cluster "${config.cluster}"; make it again with \`bazaar certs --only ${name}\``);
  }
  if (!parsed.checkIssued(caParsed) || !parsed.verify(caParsed.publicKey)) {
    throw new ConfigError(`tls: ${certFile} is not signed by the cluster's CA in ${caFile}; make it again with \`bazaar certs --only ${name}\``);
  }
  if (now < new Date(parsed.validFrom) || now > new Date(parsed.validTo)) {
    throw new ConfigError(`tls: ${certFile} is valid from ${parsed.validFrom} to ${parsed.validTo}, not now; make it again with \`bazaar certs --only ${name}\``);
  }
  try {
    if ((statSync(keyFile).mode & 0o077) !== 0) logger?.warn(`tls: ${keyFile} can be read by others than its owner; make it 0600 (chmod 600)`);
  } catch {
    // It was just read; a race with its removal changes nothing here.
  }
  return { name, cluster: config.cluster, names: clusterNames(config), ca, cert, key };
}

/** The CA file of the config's cluster, for a public client (`bazaar client`) that trusts it; undefined without `tls`. */
export function clusterCaFile(config: Config): string | undefined {
  return config.tls === undefined ? undefined : path.join(config.tls.dir, CA_CERT_FILE);
}
