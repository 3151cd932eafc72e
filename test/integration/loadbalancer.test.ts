// A real load balancer in front of several frontends: Debian's nginx runs roles/nginx-bazaar.conf,
// and Debian's HAProxy roles/haproxy-bazaar.cfg (their backends, listener and files rewritten to this
// test's loopback ports and folder), before the two frontends of a `bazaar up` with the cluster's TLS.
// The balancer terminates the client's HTTPS and reaches the frontends over TLS, checking their
// certificates against the cluster's CA; `bazaar client` drives the cluster through it while one
// frontend is killed with kill -9. No client-visible error, every order verified, nothing lost or
// doubled.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { assertConserved, catalogStocks, readOrderLog } from '../../harness/checks.ts';
import { childPids, freePorts, http, type Proc, ROOT, TestCluster } from '../../harness/cluster.ts';
import { until } from '../../harness/wait.ts';
import { issue } from '../../src/tls/certs.ts';

const NGINX = process.env.BAZAAR_NGINX ?? '/usr/sbin/nginx';
const HAPROXY = process.env.BAZAAR_HAPROXY ?? '/usr/sbin/haproxy';

interface Balancer {
  readonly name: string;
  /** Writes its config for `listen` and `frontends` into `dir`, with the TLS files of `tls`; the command that checks it and the one that runs it in the foreground. */
  configure(dir: string, listen: number, frontends: readonly number[], tls: BalancerTls): Promise<{ check: string[]; run: string[] }>;
}

/** The balancer's files: its public certificate and key (here signed by the cluster's CA, which the client trusts), and the cluster's CA. */
interface BalancerTls {
  readonly publicCert: string;
  readonly publicKey: string;
  /** The certificate followed by its key, as HAProxy's crt wants it. */
  readonly publicPem: string;
  readonly ca: string;
}

/** The shipped files' TLS paths, replaced by this test's. */
function withFiles(text: string, tls: BalancerTls): string {
  return text
    .replaceAll('/etc/bazaar/tls/public.crt', tls.publicCert)
    .replaceAll('/etc/bazaar/tls/public.key', tls.publicKey)
    .replaceAll('/etc/bazaar/tls/public.pem', tls.publicPem)
    .replaceAll('/etc/bazaar/tls/ca.crt', tls.ca);
}

/** roles/nginx-bazaar.conf with this test's upstreams and listener, wrapped in a main config that keeps every file in `dir`. */
async function nginxConfig(dir: string, listen: number, frontends: readonly number[], tls: BalancerTls): Promise<{ check: string[]; run: string[] }> {
  const site = withFiles(await readFile(path.join(ROOT, 'roles/nginx-bazaar.conf'), 'utf8'), tls)
    .replace(/^(\s*)server 10\.0\.1\.\d+:8000 (.*)$/gm, '') // the example hosts out…
    .replace(/keepalive 64;/, `${frontends.map((port) => `server 127.0.0.1:${port} max_fails=1 fail_timeout=2s;`).join('\n    ')}\n    keepalive 64;`) // …these in
    .replace(/listen 443 ssl;/, `listen 127.0.0.1:${listen} ssl;`);
  assert.ok(!site.includes('/etc/bazaar'), 'every file was rewritten');
  assert.equal((site.match(/server 127\.0\.0\.1:/g) ?? []).length, frontends.length, 'the upstreams were rewritten');
  await writeFile(path.join(dir, 'bazaar.conf'), site);
  const main = [
    ...(process.getuid?.() === 0 ? ['user root;'] : []),
    'worker_processes 1;',
    `error_log ${dir}/error.log warn;`,
    `pid ${dir}/nginx.pid;`,
    'events { worker_connections 1024; }',
    'http {',
    '  access_log off;',
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((kind) => `  ${kind}_temp_path ${dir}/${kind};`),
    `  include ${dir}/bazaar.conf;`,
    '}',
  ].join('\n');
  await writeFile(path.join(dir, 'nginx.conf'), main);
  const conf = path.join(dir, 'nginx.conf');
  return { check: [NGINX, '-t', '-c', conf, '-p', dir], run: [NGINX, '-c', conf, '-p', dir, '-g', 'daemon off;'] };
}

/** roles/haproxy-bazaar.cfg with this test's servers and listener. */
async function haproxyConfig(dir: string, listen: number, frontends: readonly number[], tls: BalancerTls): Promise<{ check: string[]; run: string[] }> {
  const text = withFiles(await readFile(path.join(ROOT, 'roles/haproxy-bazaar.cfg'), 'utf8'), tls)
    .replace(/^\s*server frontend\d+ 10\.0\.1\.\d+:8000 check\n/gm, '')
    .replace(/bind :443 /, `bind 127.0.0.1:${listen} `);
  assert.ok(!text.includes('/etc/bazaar'), 'every file was rewritten');
  const cfg = `${text.trimEnd()}\n${frontends.map((port, index) => `    server frontend${index + 1} 127.0.0.1:${port} check`).join('\n')}\n`;
  assert.equal((cfg.match(/server frontend\d+ 127\.0\.0\.1:/g) ?? []).length, frontends.length, 'the servers were rewritten');
  const file = path.join(dir, 'haproxy.cfg');
  await writeFile(file, cfg);
  return { check: [HAPROXY, '-c', '-f', file], run: [HAPROXY, '-db', '-f', file] };
}

const BALANCERS: readonly Balancer[] = [
  { name: 'nginx', configure: nginxConfig },
  { name: 'HAProxy', configure: haproxyConfig },
];

for (const balancer of BALANCERS) describe(`${balancer.name} in front of two frontends`, () => {
  let cluster: TestCluster;
  let up: Proc;
  let balancerProcess: ChildProcess | undefined;
  let lb: string;

  before(async () => {
    const [listen, ...frontends] = await freePorts(3);
    cluster = await TestCluster.create({ replicas: 3, tls: true, extra: { frontend: undefined, frontends: frontends.map((port) => ({ host: '127.0.0.1', port })) } });
    up = cluster.spawn(['up', '--no-dashboard']);
    await up.waitFor(/Stock Bazaar is up/);
    const dir = path.join(cluster.dir, 'balancer');
    await mkdir(dir);
    // The balancer's public certificate: from a public CA in production; here the cluster's CA signs
    // it, so the client (which trusts the config's CA) can check it.
    const ca = { cert: await readFile(path.join(cluster.certsDir, 'ca.crt'), 'utf8'), key: await readFile(path.join(cluster.certsDir, 'ca.key'), 'utf8') };
    const now = Date.now();
    const lbPem = await issue(ca, { name: 'balancer', cluster: 'public', hosts: ['127.0.0.1'], notBefore: new Date(now - 60_000), notAfter: new Date(now + 86_400_000) });
    const tls: BalancerTls = { publicCert: path.join(dir, 'public.crt'), publicKey: path.join(dir, 'public.key'), publicPem: path.join(dir, 'public.pem'), ca: path.join(cluster.certsDir, 'ca.crt') };
    await writeFile(tls.publicCert, lbPem.cert);
    await writeFile(tls.publicKey, lbPem.key, { mode: 0o600 });
    await writeFile(tls.publicPem, `${lbPem.cert}${lbPem.key}`, { mode: 0o600 });
    const { check, run } = await balancer.configure(dir, listen!, frontends, tls);
    const checked = spawnSync(check[0]!, check.slice(1), { encoding: 'utf8' });
    if (checked.error !== undefined) throw new Error(`cannot run ${check[0]} (install Debian's nginx-light and haproxy; .ci/run does): ${checked.error.message}`);
    assert.equal(checked.status, 0, `${checked.stdout}${checked.stderr}`);
    balancerProcess = spawn(run[0]!, run.slice(1), { stdio: 'ignore' });
    lb = `https://127.0.0.1:${listen}`;
    await until(`${balancer.name} answers`, async () => ((await http(`${lb}/health`).catch(() => undefined))?.status === 200 ? true : undefined));
  });

  after(async () => {
    if (balancerProcess !== undefined && balancerProcess.exitCode === null) {
      balancerProcess.kill(balancer.name === 'nginx' ? 'SIGQUIT' : 'SIGTERM');
      await new Promise((resolve) => balancerProcess!.once('exit', resolve));
    }
    await up?.stop('SIGINT');
    await cluster?.destroy();
  });

  test(`kill -9 of a frontend under load through ${balancer.name}: no client error, every order verified, logs equal, catalog = log`, async () => {
    const pids = childPids(up.output);
    const client = cluster.spawn(['client', '--frontend', lb, '--p', '0.5', '--iterations', '300', '--clients', '6', '--seed', '11']);
    // Kill it mid-load, once the client is trading through both (its start-up alone can take 500 ms).
    await until('the client is trading', async () => (((await http(`${cluster.url('catalog')}/health`)).body as { data: { trades: number } }).data.trades >= 100 ? true : undefined));
    process.kill(pids.get('frontend-1')!, 'SIGKILL');
    const { code } = await client.exited;
    assert.equal(code, 0, client.output);
    // The balancer hides the dead frontend by itself: the client never had to retry (its own
    // retries on 503 would otherwise mask a balancer that does not retry).
    assert.match(client.output, /retried: 0, errors: 0, mismatches: 0/);
    assert.match(client.output, /verification: passed/);
    await until('every replica holds the same log', async () => {
      const logs = await Promise.all([1, 2, 3].map((id) => readOrderLog(cluster.orderLogPath(id))));
      return logs.every((log) => log.length === logs[0]!.length) ? logs : undefined;
    });
    assertConserved(await readOrderLog(cluster.orderLogPath(1)), await catalogStocks(cluster.url('catalog')));
  });
});
