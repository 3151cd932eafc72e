// The cluster's mutual TLS, with real processes on loopback: every role speaks TLS 1.3 and shows its
// certificate; a peer whose certificate is from another CA, expired, of a name that is no role of
// this config, or of another cluster is cut before its request is read, whatever token it sends, and
// the role says whom it refused and why; a public client without a certificate uses the public API
// only; and replacing one role's certificate and restarting that role alone costs no client an error.
// A frontend's own public certificate (frontend.tls) serves the public, with or without the cluster's
// TLS.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { Agent, fetch, setGlobalDispatcher } from 'undici';
import { catalogStocks } from '../../harness/checks.ts';
import { http, type Proc, TestCluster, waitHealthy } from '../../harness/cluster.ts';
import { issue, makeCa, type Pem } from '../../src/tls/certs.ts';
import type { Hello, LoadState, Snapshot } from '../../src/protocol/dashboard.ts';
import { until } from '../../harness/wait.ts';
import { LINK_PATH, LINK_PROTOCOL } from '../../src/protocol/link.ts';

const TOKEN = 'tls-test-token';
const DAY_MS = 86_400_000;

interface Attempt {
  /** The status the server answered, or the error that cut the connection. */
  readonly status?: number;
  readonly error?: string;
}

/** One request with this certificate (or none) and the cluster token, trusting the cluster's CA for the server. */
function attempt(url: string, ca: Buffer, pem: Pem | undefined, options: { method?: string; path: string; body?: string; upgrade?: boolean }): Promise<Attempt> {
  return new Promise((resolve) => {
    const target = new URL(url);
    const headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` };
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    if (options.upgrade === true) Object.assign(headers, { connection: 'Upgrade', upgrade: LINK_PROTOCOL });
    const req = httpsRequest({
      host: target.hostname,
      port: target.port,
      method: options.method ?? 'GET',
      path: options.path,
      headers,
      ca,
      ...(pem === undefined ? {} : { cert: pem.cert, key: pem.key }),
      agent: false,
      timeout: 3_000,
    });
    req.on('response', (res) => {
      res.resume();
      resolve({ status: res.statusCode });
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode });
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    req.end(options.body);
  });
}

describe('mutual TLS between roles', () => {
  let cluster: TestCluster;
  let ca: Buffer;
  let caPem: Pem;
  let procs: { catalog: Proc; orders: Map<number, Proc>; frontend: Proc };
  const bad: Record<string, Pem> = {};

  before(async () => {
    cluster = await TestCluster.create({ token: TOKEN, tls: true });
    ca = await readFile(path.join(cluster.certsDir, 'ca.crt'));
    caPem = { cert: ca.toString(), key: await readFile(path.join(cluster.certsDir, 'ca.key'), 'utf8') };
    const now = Date.now();
    const valid = { notBefore: new Date(now - DAY_MS), notAfter: new Date(now + DAY_MS) };
    const otherCa = await makeCa('bazaar', valid);
    bad['another CA'] = await issue(otherCa, { name: 'order-1', cluster: 'bazaar', hosts: ['127.0.0.1'], ...valid });
    bad['an expired certificate'] = await issue(caPem, { name: 'order-1', cluster: 'bazaar', hosts: ['127.0.0.1'], notBefore: new Date(now - 3 * DAY_MS), notAfter: new Date(now - DAY_MS) });
    bad['a name not in the config'] = await issue(caPem, { name: 'order-9', cluster: 'bazaar', hosts: ['127.0.0.1'], ...valid });
    bad['another cluster'] = await issue(caPem, { name: 'order-1', cluster: 'elsewhere', hosts: ['127.0.0.1'], ...valid });
    procs = await cluster.startAll();
  });

  after(async () => {
    await cluster?.destroy();
  });

  test('a client trades over HTTPS with the config\'s CA and every order verifies; plain HTTP on a role\'s port gets no answer', async () => {
    const client = cluster.spawn(['client', '--iterations', '40', '--clients', '3', '--p', '0.5', '--seed', '7']);
    const { code } = await client.exited;
    assert.equal(code, 0, client.output);
    assert.match(client.output, /errors: 0, mismatches: 0/);
    assert.match(procs.frontend.output, /listening on 127\.0\.0\.1:\d+ \(https\)/);
    const plain = await fetch(`http://127.0.0.1:${cluster.ports.orders.get(1)}/health`).then(
      (reply) => `answered ${reply.status}`,
      () => 'no answer',
    );
    assert.equal(plain, 'no answer');
  });

  for (const kind of ['another CA', 'an expired certificate', 'a name not in the config', 'another cluster']) {
    test(`a peer with ${kind} is cut before its request is read, with the token: a replica does not crash, no link opens, the frontend takes no push; each says whom it refused`, async () => {
      const pem = bad[kind]!;
      const leaderLog = await readFile(cluster.orderLogPath(1));
      const before = await catalogStocks(cluster.url('catalog'), TOKEN);
      const crash = await attempt(cluster.url(1), ca, pem, { method: 'POST', path: '/internal/crash', body: '{}' });
      assert.equal(crash.status, undefined, `the crash request was answered ${crash.status}`);
      const link = await attempt(cluster.url(2), ca, pem, { path: LINK_PATH, upgrade: true });
      assert.equal(link.status, undefined, `the link upgrade was answered ${link.status}`);
      const push = await attempt(cluster.url('frontend'), ca, pem, { method: 'POST', path: '/internal/cache/invalidate', body: '{"from":-1,"to":0,"changes":[]}' });
      assert.equal(push.status, undefined, `the push was answered ${push.status}`);
      // Nothing changed: the replica is alive and its log the same, the catalog the same.
      await waitHealthy(cluster.url(1), procs.orders.get(1));
      assert.ok(procs.orders.get(1)!.running);
      assert.deepEqual(await readFile(cluster.orderLogPath(1)), leaderLog);
      assert.deepEqual(await catalogStocks(cluster.url('catalog'), TOKEN), before);
      const why = { 'another CA': /unable to verify|UNABLE_TO_VERIFY/i, 'an expired certificate': /CERT_HAS_EXPIRED|expired/i, 'a name not in the config': /names order-9, no role of this cluster/, 'another cluster': /of cluster "elsewhere", not "bazaar"/ }[kind]!;
      for (const proc of [procs.orders.get(1)!, procs.orders.get(2)!, procs.frontend]) {
        const line = proc.output.split('\n').find((text) => text.includes('refused a TLS peer') && why.test(text));
        assert.ok(line !== undefined, `${proc.name} says whom it refused and why:\n${proc.output.slice(-3000)}`);
        assert.match(line, /from 127\.0\.0\.1:\d+/);
      }
    });
  }

  test('a client without a certificate may use the frontend\'s public API, but its internal routes and links answer 403 (the token is not enough); the catalog and replicas cut it', async () => {
    const lookup = await attempt(cluster.url('frontend'), ca, undefined, { path: '/stocks/GameStart' });
    assert.equal(lookup.status, 200);
    const push = await attempt(cluster.url('frontend'), ca, undefined, { method: 'POST', path: '/internal/cache/invalidate', body: '{"from":-1,"to":0,"changes":[]}' });
    assert.equal(push.status, 403);
    const link = await attempt(cluster.url('frontend'), ca, undefined, { path: LINK_PATH, upgrade: true });
    assert.equal(link.status, 403);
    for (const role of ['catalog', 1] as const) {
      const health = await attempt(cluster.url(role), ca, undefined, { path: '/health' });
      assert.equal(health.status, undefined, `${role} answered ${health.status} to a client without a certificate`);
    }
    assert.match(procs.catalog.output, /refused a TLS peer from 127\.0\.0\.1:\d+: it showed no certificate/);
  });

  test('the dashboard reads every role with its own certificate and serves its page over HTTPS; a load started from it trades over HTTPS; admin status reads the cluster with the admin certificate', async () => {
    const board = cluster.spawn(['dashboard']);
    await board.waitFor(/Stock Bazaar dashboard: https:\/\/127\.0\.0\.1:\d+\//);
    const snapshot = await until('the dashboard sees every role', async () => {
      const reply = await http(`${cluster.url('dashboard')}/api/snapshot`).catch(() => undefined);
      const data = (reply?.body as { data?: Snapshot } | undefined)?.data;
      return data !== undefined && data.replicas.every((replica) => replica.up) && data.replicas.some((replica) => replica.sync === 'leader') ? data : undefined;
    });
    assert.equal(snapshot.conservation.state, 'equal');
    // A load started from the page trades over HTTPS, trusting the cluster's CA.
    const started = await http(`${cluster.url('dashboard')}/api/load`, { method: 'POST', body: JSON.stringify({ p: 0.5, sessions: 2, iterations: 15 }), headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` } });
    assert.equal(started.status, 202, started.text);
    /** The load's state as a new page gets it: the stream's first event. */
    const loadState = async (): Promise<LoadState> => {
      const controller = new AbortController();
      const reply = await fetch(`${cluster.url('dashboard')}/api/stream`, { signal: controller.signal });
      let text = '';
      for await (const chunk of reply.body!) {
        text += Buffer.from(chunk).toString();
        if (text.includes('\n\n')) break;
      }
      controller.abort();
      return (JSON.parse(/^data: (.*)$/m.exec(text)![1]!) as Hello).load;
    };
    const load = await until('the load ends', async () => {
      const state = await loadState();
      return state.running ? undefined : state;
    }, 30_000, 300);
    assert.equal(load.error, null);
    assert.equal(load.report?.ok, true, JSON.stringify(load.report?.error_samples));
    assert.ok((load.report?.orders_placed ?? 0) > 0);
    const status = cluster.spawn(['admin', 'status']);
    assert.equal((await status.exited).code, 0, status.output);
    assert.match(status.output, /order 3 +127\.0\.0\.1:\d+ +up/);
    await board.stop();
    assert.doesNotMatch(board.output, /refused|handshake/);
  });

  test('a caller checks whom it reached: the admin certificate calling a replica as the catalog is refused by the caller', async () => {
    // The replica's certificate names order-1; a caller that meant the catalog must not talk to it.
    const { callTls } = await import('../../src/tls/client.ts');
    const { loadRoleTls } = await import('../../src/tls/material.ts');
    const { loadConfig } = await import('../../src/core/config.ts');
    const admin = loadRoleTls(loadConfig(cluster.configPath), 'admin')!;
    const options = callTls(admin, 'catalog')!;
    const outcome = await new Promise<string>((resolve) => {
      const target = new URL(cluster.url(1));
      const req = httpsRequest({ host: target.hostname, port: target.port, path: '/health', ...options, agent: false, timeout: 3_000 });
      req.on('response', (res) => {
        res.resume();
        resolve(`answered ${res.statusCode}`);
      });
      req.on('error', (error) => resolve(error.message));
      req.end();
    });
    assert.match(outcome, /the peer is not catalog: its certificate names order-1, not catalog/);
  });

  test('replacing the leader\'s certificate (bazaar certs --only) and restarting the leader alone: the client running meanwhile sees no error', async () => {
    const health = await http(`${cluster.url('frontend')}/health`);
    const leader = (health.body as { data: { leader: number } }).data.leader;
    const name = `order-${leader}`;
    const oldSerial = new X509Certificate(await readFile(path.join(cluster.certsDir, `${name}.crt`))).serialNumber;
    const client = cluster.spawn(['client', '--iterations', '150', '--clients', '3', '--p', '0.5', '--seed', '11']);
    await client.waitFor(/\d+ requests|lookup|trade/, 20_000).catch(() => undefined);
    const certs = cluster.spawn(['certs', '--only', name, '--days', '1']);
    assert.equal((await certs.exited).code, 0, certs.output);
    assert.match(certs.output, new RegExp(`signed with the cluster's CA .*\\n.*\\n.*${name}\\.crt ${name}\\.key`));
    assert.notEqual(new X509Certificate(await readFile(path.join(cluster.certsDir, `${name}.crt`))).serialNumber, oldSerial);
    await procs.orders.get(leader)!.stop();
    const restarted = await cluster.start(leader);
    procs.orders.set(leader, restarted);
    const { code } = await client.exited;
    assert.equal(code, 0, client.output);
    assert.match(client.output, /errors: 0, mismatches: 0/);
    assert.doesNotMatch(restarted.output, /refused a TLS peer/);
  });
});

describe('a frontend\'s own certificate for the public API (frontend.tls)', () => {
  for (const clusterTls of [false, true]) {
    describe(clusterTls ? 'beside the cluster\'s TLS: the public sees it, the roles (asking by name) the cluster certificate' : 'on a cluster without TLS: HTTPS for the public, nothing else changes', () => {
      let cluster: TestCluster;
      let publicCa: Buffer;
      before(async () => {
        cluster = await TestCluster.create({ replicas: 3, tls: clusterTls, token: TOKEN });
        // A public CA of its own (a real one in production), which the roles do not know.
        const now = Date.now();
        const valid = { notBefore: new Date(now - 60_000), notAfter: new Date(now + DAY_MS) };
        const authority = await makeCa('public', valid);
        const pem = await issue(authority, { name: 'shop.example', cluster: 'public', hosts: ['127.0.0.1'], ...valid });
        publicCa = Buffer.from(authority.cert);
        const files = { cert: path.join(cluster.dir, 'public.crt'), key: path.join(cluster.dir, 'public.key'), ca: path.join(cluster.dir, 'public-ca.crt') };
        await writeFile(files.cert, pem.cert);
        await writeFile(files.key, pem.key, { mode: 0o600 });
        await writeFile(files.ca, authority.cert);
        await cluster.givePublicCertificate({ cert: files.cert, key: files.key });
        // This process checks the frontend against the public CA (and the roles against the cluster's).
        const read = (file: string): Buffer => readFileSync(path.join(cluster.certsDir, file));
        setGlobalDispatcher(new Agent({ connect: clusterTls ? { ca: [read('ca.crt'), publicCa], cert: read('admin.crt'), key: read('admin.key') } : { ca: publicCa } }));
        await cluster.startAll();
      });
      after(async () => {
        await cluster?.destroy();
      });

      test('a client that trusts the public CA trades over HTTPS and every order verifies; the frontend shows it the public certificate; lookups after trades are fresh (the catalog\'s pushes reach the frontend)', async () => {
        const client = cluster.spawn(['client', '--iterations', '40', '--clients', '3', '--p', '0.5', '--seed', '5', '--ca', path.join(cluster.dir, 'public-ca.crt')]);
        const { code } = await client.exited;
        assert.equal(code, 0, client.output);
        assert.match(client.output, /errors: 0, mismatches: 0/);
        const shown = await new Promise<string>((resolve, reject) => {
          const socket = tlsConnect({ host: '127.0.0.1', port: cluster.ports.frontend, ca: publicCa }, () => {
            resolve(socket.getPeerCertificate().subject.CN as string);
            socket.destroy();
          });
          socket.on('error', reject);
        });
        assert.equal(shown, 'shop.example');
        const before = await http(`${cluster.url('frontend')}/stocks/BoarCo`);
        const trade = await http(`${cluster.url('frontend')}/orders`, { method: 'POST', body: JSON.stringify({ name: 'BoarCo', quantity: 2, type: 'sell' }), headers: { 'content-type': 'application/json' } });
        assert.equal(trade.status, 200);
        const after = await http(`${cluster.url('frontend')}/stocks/BoarCo`);
        assert.equal((after.body as { data: { volume: number } }).data.volume, (before.body as { data: { volume: number } }).data.volume + 2);
      });

      if (clusterTls) {
        test('a role that asks for frontend-1 by name gets the cluster certificate', async () => {
          const shown = await new Promise<string>((resolve, reject) => {
            const read = (file: string): Buffer => readFileSync(path.join(cluster.certsDir, file));
            const socket = tlsConnect({ host: '127.0.0.1', port: cluster.ports.frontend, servername: 'frontend-1', ca: read('ca.crt'), cert: read('catalog.crt'), key: read('catalog.key'), checkServerIdentity: () => undefined }, () => {
              resolve(`${socket.getPeerCertificate().subject.CN as string} ${socket.authorized}`);
              socket.destroy();
            });
            socket.on('error', reject);
          });
          assert.equal(shown, 'frontend-1 true');
        });
      }
    });
  }
});
