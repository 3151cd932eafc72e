// `bazaar certs`: the cluster's CA and a certificate for every role of the config, as CockroachDB's
// `cockroach cert create-ca` and `create-node` make them. Keys are ECDSA P-256; each certificate
// names its role (CN) and the cluster (O), is valid for the role's host and bind address (its
// subject alternative names), and may serve and call (server and client auth). Keys are written 0600.
//
// The CA is made once and kept: run again, the command signs new role certificates with it (all of
// them, or `--only` some: a rotation). Its key (ca.key) signs; it belongs with the operator, not on
// any role's host. Node has no X.509 writer, so @peculiar/x509 builds the certificates over Node's
// own WebCrypto.
import { createPrivateKey, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import type { Config } from '../core/config.ts';
import { ConfigError } from '../core/errors.ts';
import { CA_CERT_FILE, CA_KEY_FILE, certHolders, type CertHolder } from './names.ts';

type X509 = typeof import('@peculiar/x509');

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

/** The library, loaded when a certificate is made (never by a running role). */
async function x509(): Promise<X509> {
  // @peculiar/x509 resolves its parts through tsyringe, which needs the Reflect metadata API first.
  await import('reflect-metadata');
  const library = await import('@peculiar/x509');
  library.cryptoProvider.set(webcrypto as unknown as Crypto);
  return library;
}

export interface Pem {
  readonly cert: string;
  readonly key: string;
}

export interface Validity {
  readonly notBefore: Date;
  readonly notAfter: Date;
}

function serial(): string {
  // Positive (high bit clear) and unique enough that no two certificates of a CA share one.
  const bytes = randomBytes(16);
  bytes[0]! &= 0x7f;
  return bytes.toString('hex');
}

async function pkcs8(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).export({ type: 'pkcs8', format: 'pem' }) as string;
}

/** A new CA for cluster `cluster`. */
export async function makeCa(cluster: string, validity: Validity): Promise<Pem> {
  const lib = await x509();
  const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
  const cert = await lib.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${cluster} CA, O=${cluster}`,
    ...validity,
    keys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new lib.BasicConstraintsExtension(true, 0, true),
      new lib.KeyUsagesExtension(lib.KeyUsageFlags.keyCertSign | lib.KeyUsageFlags.cRLSign, true),
      await lib.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert: pemText(cert.toString('pem')), key: await pkcs8(keys.privateKey) };
}

/** A PEM block as files hold it: ending in a newline, so that blocks can be joined (HAProxy's crt file). */
function pemText(text: string): string {
  return text.endsWith('\n') ? text : `${text}\n`;
}

/** A certificate for role `name` of cluster `cluster`, valid at `hosts`, signed by `ca`. */
export async function issue(ca: Pem, options: { name: string; cluster: string; hosts: readonly string[] } & Validity): Promise<Pem> {
  const lib = await x509();
  const caCert = new lib.X509Certificate(ca.cert);
  const caKey = await webcrypto.subtle.importKey('pkcs8', createPrivateKey(ca.key).export({ type: 'pkcs8', format: 'der' }), ALGORITHM, false, ['sign']);
  const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
  const names = options.hosts.map((host) => (isIP(host) === 0 ? { type: 'dns' as const, value: host } : { type: 'ip' as const, value: host }));
  const cert = await lib.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${options.name}, O=${options.cluster}`,
    issuer: caCert.subject,
    notBefore: options.notBefore,
    notAfter: options.notAfter,
    signingKey: caKey,
    publicKey: keys.publicKey,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new lib.BasicConstraintsExtension(false, undefined, true),
      new lib.KeyUsagesExtension(lib.KeyUsageFlags.digitalSignature, true),
      new lib.ExtendedKeyUsageExtension([lib.ExtendedKeyUsage.serverAuth, lib.ExtendedKeyUsage.clientAuth]),
      ...(names.length === 0 ? [] : [new lib.SubjectAlternativeNameExtension(names)]),
      await lib.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  return { cert: pemText(cert.toString('pem')), key: await pkcs8(keys.privateKey) };
}

/** Writes `text` to `file` with `mode`, whole or not at all (a temporary file renamed over it). */
async function writeWhole(file: string, text: string, mode: number): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, text, { mode });
  await chmod(temporary, mode);
  await rename(temporary, file);
}

async function readIfThere(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

export interface CertsOptions {
  readonly dir: string;
  /** Only these certificates (names of names.ts); default every one the config needs. */
  readonly only?: readonly string[];
  readonly days: number;
  readonly caDays: number;
  readonly now?: Date;
}

export interface CertsReport {
  readonly dir: string;
  readonly caMade: boolean;
  readonly caValidTo: string;
  readonly made: readonly CertHolder[];
}

/** Makes the CA if the folder has none, then every certificate asked for; what it made. */
export async function makeCerts(config: Config, options: CertsOptions): Promise<CertsReport> {
  const holders = certHolders(config);
  const known = new Set(holders.map((holder) => holder.name));
  const unknown = (options.only ?? []).filter((name) => !known.has(name));
  if (unknown.length > 0) throw new ConfigError(`--only: ${unknown.join(', ')} ${unknown.length === 1 ? 'is' : 'are'} no role of ${config.configPath}; its roles are ${[...known].join(', ')}`);
  const wanted = options.only === undefined ? holders : holders.filter((holder) => options.only!.includes(holder.name));
  const now = options.now ?? new Date();
  await mkdir(options.dir, { recursive: true, mode: 0o700 });

  const caCertFile = path.join(options.dir, CA_CERT_FILE);
  const caKeyFile = path.join(options.dir, CA_KEY_FILE);
  const [caCertText, caKeyText] = await Promise.all([readIfThere(caCertFile), readIfThere(caKeyFile)]);
  let ca: Pem;
  let caMade = false;
  if (caCertText === undefined && caKeyText === undefined) {
    ca = await makeCa(config.cluster, { notBefore: now, notAfter: new Date(now.getTime() + options.caDays * DAY_MS) });
    await writeWhole(caKeyFile, ca.key, 0o600);
    await writeWhole(caCertFile, ca.cert, 0o644);
    caMade = true;
  } else if (caCertText === undefined || caKeyText === undefined) {
    throw new ConfigError(`${options.dir} holds ${caCertText === undefined ? CA_KEY_FILE : CA_CERT_FILE} but not ${caCertText === undefined ? CA_CERT_FILE : CA_KEY_FILE}: put the CA's certificate and key back together (the CA's key signs new certificates), or empty the folder to make a new CA (every role then needs a new certificate)`);
  } else {
    ca = { cert: caCertText, key: caKeyText };
    const subject = new X509Certificate(ca.cert).subject;
    if (!subject.split('\n').includes(`O=${config.cluster}`)) throw new ConfigError(`${caCertFile} is the CA of another cluster (${subject.replace(/\n/g, ', ')}), not of "${config.cluster}"`);
  }
  const caValidTo = new X509Certificate(ca.cert).validTo;
  for (const holder of wanted) {
    const pem = await issue(ca, { name: holder.name, cluster: config.cluster, hosts: holder.hosts, notBefore: now, notAfter: new Date(now.getTime() + options.days * DAY_MS) });
    await writeWhole(path.join(options.dir, `${holder.name}.key`), pem.key, 0o600);
    await writeWhole(path.join(options.dir, `${holder.name}.crt`), pem.cert, 0o644);
  }
  return { dir: options.dir, caMade, caValidTo, made: wanted };
}

/** What `bazaar certs` prints: what it made, and which files go to which host. */
export function formatCertsReport(report: CertsReport): string {
  const lines = [
    report.caMade ? `made the cluster's CA in ${report.dir} (valid until ${report.caValidTo})` : `signed with the cluster's CA in ${report.dir} (valid until ${report.caValidTo})`,
    `made ${report.made.length} certificate${report.made.length === 1 ? '' : 's'}; copy to each host the CA's certificate and that host's own pair, keys mode 0600:`,
  ];
  const width = Math.max(...report.made.map((holder) => holder.who.length));
  for (const holder of report.made) {
    const where = holder.hosts.length === 0 ? 'wherever it runs' : `host ${holder.hosts[0]}`;
    lines.push(`  ${holder.who.padEnd(width)}  ${where.padEnd(22)}  ${CA_CERT_FILE} ${holder.name}.crt ${holder.name}.key`);
  }
  lines.push(`Keep ${CA_KEY_FILE} off the hosts: it signs new certificates (\`bazaar certs --only NAME\` replaces one).`);
  return `${lines.join('\n')}\n`;
}
