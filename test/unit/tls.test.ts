// The cluster's TLS before any connection: the config's `tls` and `frontend.tls` keys, the warning of
// a role that would speak in clear text beyond loopback, what `bazaar certs` writes (names, hosts,
// modes, one CA kept across runs), and a role that refuses to start on material that could not serve.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { clearTextWarning, parseConfig } from '../../src/core/config.ts';
import { ConfigError } from '../../src/core/errors.ts';
import { issue, makeCerts } from '../../src/tls/certs.ts';
import { loadRoleTls } from '../../src/tls/material.ts';

const base = () => ({
  cluster: 'east',
  frontends: [{ host: '10.0.0.10', port: 8000, bind: '0.0.0.0' }, { host: 'front2.example', port: 8000 }],
  catalog: { host: '10.0.0.11', port: 8001 },
  orders: [1, 2, 3].map((id) => ({ id, host: `10.0.0.2${id}`, port: 8010 + id })),
});

describe('tls in the config', () => {
  const at = '/etc/bazaar/bazaar.json';

  test('"tls" makes every role https, its folder resolved against the config; $BAZAAR_TLS_DIR (systemd\'s credentials) overrides it', () => {
    const config = parseConfig({ ...base(), tls: { dir: 'certs' } }, { configPath: at, env: {} });
    assert.deepEqual(config.tls, { dir: '/etc/bazaar/certs' });
    assert.deepEqual([config.catalog, ...config.orders, ...config.frontends, config.dashboard].map((endpoint) => endpoint.scheme), Array(7).fill('https'));
    assert.deepEqual(parseConfig(base(), { configPath: at, env: { BAZAAR_TLS_DIR: '/run/credentials/bazaar-order@1.service' } }).tls, { dir: '/run/credentials/bazaar-order@1.service' });
    assert.equal(parseConfig(base(), { configPath: at, env: {} }).tls, undefined);
    assert.throws(() => parseConfig({ ...base(), tls: { dir: 'certs', verify: false } }, { configPath: at, env: {} }), (error: unknown) => error instanceof ConfigError && /unknown config key "tls\.verify"/.test(error.message));
    assert.throws(() => parseConfig({ ...base(), tls: {} }, { configPath: at, env: {} }), /"tls\.dir" must be a non-empty string/);
  });

  test('a frontend\'s own "tls" makes that frontend https alone, without the cluster\'s TLS', () => {
    const raw = base();
    raw.frontends[1] = { ...raw.frontends[1]!, tls: { cert: 'public/front2.crt', key: 'public/front2.key' } } as never;
    const config = parseConfig(raw, { configPath: at, env: {} });
    assert.deepEqual(config.frontends.map((endpoint) => endpoint.scheme), ['http', 'https']);
    assert.deepEqual(config.frontends[1]!.tls, { cert: '/etc/bazaar/public/front2.crt', key: '/etc/bazaar/public/front2.key' });
    assert.equal(config.catalog.scheme, 'http');
  });

  test('a role listening beyond loopback without "tls" is warned that it speaks in clear text; with "tls", or on loopback, it is not', () => {
    const plain = parseConfig(base(), { configPath: at, env: {} });
    assert.match(clearTextWarning(plain, plain.frontends[0]!) ?? '', /listens on 0\.0\.0\.0: .* clear text; make certificates with `bazaar certs`/);
    const withTls = parseConfig({ ...base(), tls: { dir: 'certs' } }, { configPath: at, env: {} });
    assert.equal(clearTextWarning(withTls, withTls.frontends[0]!), undefined);
    const loopback = parseConfig({ ...base(), catalog: { host: '127.0.0.1', port: 8001 } }, { configPath: at, env: {} });
    assert.equal(clearTextWarning(loopback, loopback.catalog), undefined);
  });
});

describe('bazaar certs', () => {
  let dir: string;
  let configPath: string;
  const config = () => parseConfig({ ...base(), tls: { dir: 'certs' } }, { configPath, env: {} });

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bazaar-certs-'));
    configPath = path.join(dir, 'bazaar.json');
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('one CA and a certificate per role, named for the role and the cluster, valid at its host, signed by the CA, keys 0600', async () => {
    const report = await makeCerts(config(), { dir: path.join(dir, 'certs'), days: 30, caDays: 60 });
    assert.equal(report.caMade, true);
    assert.deepEqual(report.made.map((holder) => holder.name), ['catalog', 'order-1', 'order-2', 'order-3', 'frontend-1', 'frontend-2', 'dashboard', 'admin', 'prometheus']);
    const ca = new X509Certificate(await readFile(path.join(dir, 'certs', 'ca.crt')));
    assert.ok(ca.ca);
    for (const holder of report.made) {
      const cert = new X509Certificate(await readFile(path.join(dir, 'certs', `${holder.name}.crt`)));
      assert.equal(cert.subject, `CN=${holder.name}\nO=east`);
      assert.ok(cert.verify(ca.publicKey) && cert.checkIssued(ca), `${holder.name} is signed by the CA`);
      assert.equal(cert.ca, false);
      assert.equal((await stat(path.join(dir, 'certs', `${holder.name}.key`))).mode & 0o777, 0o600);
    }
    assert.equal((await stat(path.join(dir, 'certs', 'ca.key'))).mode & 0o777, 0o600);
    // Each is valid where the roles reach it; 0.0.0.0 (a bind address) is no name.
    assert.equal(new X509Certificate(await readFile(path.join(dir, 'certs', 'order-2.crt'))).subjectAltName, 'IP Address:10.0.0.22');
    assert.equal(new X509Certificate(await readFile(path.join(dir, 'certs', 'frontend-1.crt'))).subjectAltName, 'IP Address:10.0.0.10, DNS:frontends.east');
    assert.equal(new X509Certificate(await readFile(path.join(dir, 'certs', 'frontend-2.crt'))).subjectAltName, 'DNS:front2.example, DNS:frontends.east');
    assert.equal(new X509Certificate(await readFile(path.join(dir, 'certs', 'admin.crt'))).subjectAltName, undefined);
    // A role's material loads (at a time its certificate is valid).
    assert.equal(loadRoleTls(config(), 'order-2')?.name, 'order-2');
  });

  test('run again, it keeps the CA and signs with it; --only replaces the named certificates alone', async () => {
    const certs = path.join(dir, 'certs');
    const caBefore = await readFile(path.join(certs, 'ca.crt'), 'utf8');
    const catalogBefore = await readFile(path.join(certs, 'catalog.crt'), 'utf8');
    const order1Before = await readFile(path.join(certs, 'order-1.crt'), 'utf8');
    const report = await makeCerts(config(), { dir: certs, only: ['order-1'], days: 30, caDays: 60 });
    assert.equal(report.caMade, false);
    assert.equal(await readFile(path.join(certs, 'ca.crt'), 'utf8'), caBefore);
    assert.equal(await readFile(path.join(certs, 'catalog.crt'), 'utf8'), catalogBefore);
    assert.notEqual(await readFile(path.join(certs, 'order-1.crt'), 'utf8'), order1Before);
    await assert.rejects(makeCerts(config(), { dir: certs, only: ['order-9'], days: 30, caDays: 60 }), /--only: order-9 is no role of .*; its roles are catalog, order-1/);
    await assert.rejects(makeCerts(parseConfig({ ...base(), cluster: 'west' }, { configPath, env: {} }), { dir: certs, days: 1, caDays: 1 }), /ca\.crt is the CA of another cluster \(CN=east CA, O=east\), not of "west"/);
  });

  test('a role will not start on material that could not serve: missing, of another role, or expired; each names the file and the fix', async () => {
    const certs = path.join(dir, 'certs');
    assert.throws(() => loadRoleTls(parseConfig({ ...base(), tls: { dir: 'elsewhere' } }, { configPath, env: {} }), 'catalog'), (error: unknown) => error instanceof ConfigError && /cannot read .*elsewhere\/ca\.crt \(ENOENT\); make the cluster's certificates with `bazaar certs`/.test(error.message));
    await writeFile(path.join(certs, 'order-3.crt'), await readFile(path.join(certs, 'order-2.crt')));
    assert.throws(() => loadRoleTls(config(), 'order-3'), /order-3\.crt is order-2 of cluster "east", not order-3 of cluster "east"; make it again with `bazaar certs --only order-3`/);
    const ca = { cert: await readFile(path.join(certs, 'ca.crt'), 'utf8'), key: await readFile(path.join(certs, 'ca.key'), 'utf8') };
    const expired = await issue(ca, { name: 'order-3', cluster: 'east', hosts: [], notBefore: new Date(Date.now() - 2 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) });
    await writeFile(path.join(certs, 'order-3.crt'), expired.cert);
    await writeFile(path.join(certs, 'order-3.key'), expired.key, { mode: 0o600 });
    assert.throws(() => loadRoleTls(config(), 'order-3'), /order-3\.crt is valid from .* to .*, not now/);
    await unlink(path.join(certs, 'ca.key'));
    await assert.rejects(makeCerts(config(), { dir: certs, days: 1, caDays: 1 }), /holds ca\.crt but not ca\.key: put the CA's certificate and key back together/);
  });
});
