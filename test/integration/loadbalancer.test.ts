// A real load balancer in front of several frontends: Debian's nginx runs roles/nginx-bazaar.conf
// (its upstreams and listener rewritten to this test's loopback ports) before the two frontends of a
// `bazaar up`; `bazaar client` drives the cluster through nginx while one frontend is killed with
// kill -9. No client-visible error, every order verified, nothing lost or doubled.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { assertConserved, catalogStocks, readOrderLog } from '../helpers/checks.ts';
import { freePorts, http, type Proc, ROOT, TestCluster } from '../helpers/cluster.ts';
import { until } from '../helpers/wait.ts';

const NGINX = process.env.BAZAAR_NGINX ?? '/usr/sbin/nginx';

/** roles/nginx-bazaar.conf with this test's upstreams and listener, wrapped in a main config that keeps every file in `dir`. */
async function nginxConfig(dir: string, listen: number, frontends: readonly number[]): Promise<string> {
  const site = (await readFile(path.join(ROOT, 'roles/nginx-bazaar.conf'), 'utf8'))
    .replace(/^(\s*)server 10\.0\.1\.\d+:8000 (.*)$/gm, '') // the example hosts out…
    .replace(/keepalive 64;/, `${frontends.map((port) => `server 127.0.0.1:${port} max_fails=1 fail_timeout=2s;`).join('\n    ')}\n    keepalive 64;`) // …these in
    .replace(/listen 80;/, `listen 127.0.0.1:${listen};`);
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
  return path.join(dir, 'nginx.conf');
}

describe('nginx in front of two frontends', () => {
  let cluster: TestCluster;
  let up: Proc;
  let nginx: ChildProcess | undefined;
  let lb: string;

  before(async () => {
    const [listen, ...frontends] = await freePorts(3);
    cluster = await TestCluster.create({ replicas: 3, extra: { frontend: undefined, frontends: frontends.map((port) => ({ host: '127.0.0.1', port })) } });
    up = cluster.spawn(['up', '--no-dashboard']);
    await up.waitFor(/Stock Bazaar is up/);
    const dir = path.join(cluster.dir, 'nginx');
    await mkdir(dir);
    const conf = await nginxConfig(dir, listen!, frontends);
    const check = spawnSync(NGINX, ['-t', '-c', conf, '-p', dir], { encoding: 'utf8' });
    if (check.error !== undefined) throw new Error(`cannot run ${NGINX} (install Debian's nginx-light; .ci/run does): ${check.error.message}`);
    assert.equal(check.status, 0, check.stderr);
    nginx = spawn(NGINX, ['-c', conf, '-p', dir, '-g', 'daemon off;'], { stdio: 'ignore' });
    lb = `http://127.0.0.1:${listen}`;
    await until('nginx answers', async () => ((await http(`${lb}/health`).catch(() => undefined))?.status === 200 ? true : undefined));
  });

  after(async () => {
    if (nginx !== undefined && nginx.exitCode === null) {
      nginx.kill('SIGQUIT');
      await new Promise((resolve) => nginx!.once('exit', resolve));
    }
    await up?.stop('SIGINT');
    await cluster?.destroy();
  });

  test('kill -9 of a frontend under load through nginx: no client error, every order verified, logs equal, catalog = log', async () => {
    const pids = new Map((/pids:\s+(.*)/.exec(up.output)?.[1] ?? '').split(', ').map((part) => [part.split(' ')[0]!, Number(part.split(' ')[1])]));
    const client = cluster.spawn(['client', '--frontend', lb, '--p', '0.5', '--iterations', '300', '--clients', '6', '--seed', '11']);
    await new Promise((resolve) => setTimeout(resolve, 500));
    process.kill(pids.get('frontend-1')!, 'SIGKILL');
    const { code } = await client.exited;
    assert.equal(code, 0, client.output);
    assert.match(client.output, /errors: 0, mismatches: 0/);
    assert.match(client.output, /verification: passed/);
    await until('every replica holds the same log', async () => {
      const logs = await Promise.all([1, 2, 3].map((id) => readOrderLog(cluster.orderLogPath(id))));
      return logs.every((log) => log.length === logs[0]!.length) ? logs : undefined;
    });
    assertConserved(await readOrderLog(cluster.orderLogPath(1)), await catalogStocks(`http://127.0.0.1:${cluster.ports.catalog}`));
  });
});
