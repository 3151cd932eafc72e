// The bundled dist/bazaar.mjs as a user runs it: `bazaar up`, then `bazaar client`, then Ctrl-C.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { assertConserved, catalogStocks, readOrderLog } from '../../harness/checks.ts';
import { BUNDLE_COMMAND, childPids, http, TestCluster } from '../../harness/cluster.ts';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitGone(pids: Iterable<number>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ([...pids].every((pid) => !alive(pid))) return true;
    await sleep(50);
  }
  return false;
}

describe('the bundle, end to end', () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await TestCluster.create({ command: BUNDLE_COMMAND, replicas: 3 });
  });
  after(() => cluster.destroy());

  test('--version and --help work, and a bad config is refused with the key named', async () => {
    const version = cluster.spawn(['--version']);
    assert.equal((await version.exited).code, 0);
    assert.match(version.output, /^\d+\.\d+\.\d+/);
    const help = cluster.spawn(['order', '--help']);
    assert.equal((await help.exited).code, 0);
    assert.match(help.output, /--id <n>/);

    const badConfig = path.join(cluster.dir, 'bad.json');
    await writeFile(badConfig, JSON.stringify({ frontend: { host: '127.0.0.1', port: 1 }, catalog: { host: '127.0.0.1', port: 2 }, orders: [{ id: 1, host: '127.0.0.1', port: 1 }] }));
    const [command, ...leading] = BUNDLE_COMMAND;
    const { spawnSync } = await import('node:child_process');
    const refused = spawnSync(command!, [...leading, 'catalog', '--config', badConfig], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(refused.status, 2);
    assert.match(refused.stderr, /config key "orders \(id 1\).port": 127.0.0.1:1 is already used by frontend/);
  });

  test('npx bazaar runs the bundle, as the README tells a newcomer (it is executable)', async () => {
    const { spawnSync } = await import('node:child_process');
    const npx = spawnSync('npx', ['--no-install', 'bazaar', '--version'], { cwd: path.resolve(import.meta.dirname, '../..'), encoding: 'utf8', timeout: 30_000 });
    assert.equal(npx.status, 0, `${npx.stdout}${npx.stderr}`);
    assert.match(npx.stdout, /^\d+\.\d+\.\d+/);
  });

  test('the bundle stands alone: copied where no node_modules is, it serves the dashboard page and its charting library', async () => {
    const { copyFile, mkdtemp, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const elsewhere = await mkdtemp(path.join(tmpdir(), 'bazaar-alone-'));
    try {
      const copy = path.join(elsewhere, 'bazaar.mjs');
      await copyFile(BUNDLE_COMMAND[1]!, copy);
      const { spawn } = await import('node:child_process');
      const child = spawn(process.execPath, [copy, 'dashboard', '--config', cluster.configPath], { cwd: elsewhere, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      try {
        const deadline = Date.now() + 15_000;
        while (!/dashboard: http/.test(output)) {
          assert.ok(child.exitCode === null, `the copied bundle exited: ${output}`);
          assert.ok(Date.now() < deadline, `no dashboard address within 15 s: ${output}`);
          await sleep(50);
        }
        for (const asset of ['/', '/app.js', '/uplot.js', '/uplot.css']) {
          const reply = await http(`${cluster.url('dashboard')}${asset}`);
          assert.equal(reply.status, 200, asset);
        }
        assert.match((await http(`${cluster.url('dashboard')}/uplot.js`)).text, /uPlot/);
      } finally {
        child.kill('SIGTERM');
        await new Promise((resolve) => child.once('exit', resolve));
      }
    } finally {
      await rm(elsewhere, { recursive: true, force: true });
    }
  });

  test('bazaar up brings the cluster up, bazaar client drives and verifies it, Ctrl-C stops every role', async () => {
    const up = cluster.spawn(['up']);
    await up.waitFor(/Stock Bazaar is up/);
    const pids = childPids(up.output);
    assert.deepEqual([...pids.keys()].sort(), ['catalog', 'frontend', 'order-1', 'order-2', 'order-3']);
    assert.match(up.output, /^frontend \| .*listening on/m, 'child output is prefixed with the role');

    const reportPath = path.join(cluster.dir, 'report.json');
    const client = cluster.spawn(['client', '--p', '0.5', '--iterations', '60', '--clients', '5', '--seed', '42', '--json', reportPath]);
    assert.equal((await client.exited).code, 0, client.output);
    assert.match(client.output, /verification: passed/);
    assert.match(client.output, /lookup\s+300\s/);
    const report = JSON.parse(await readFile(reportPath, 'utf8')) as { ok: boolean; orders_placed: number; errors: number; seed: number; latency: { trade: { count: number } } };
    assert.equal(report.ok, true);
    assert.equal(report.errors, 0);
    assert.equal(report.seed, 42);
    assert.ok(report.orders_placed > 100, `about half of 300 lookups trade: ${report.orders_placed}`);

    // The highest id leads; its log and the catalog agree (G4).
    assertConserved(await readOrderLog(cluster.orderLogPath(3)), await catalogStocks(cluster.url('catalog')));
    assert.equal((await readOrderLog(cluster.orderLogPath(3))).length, report.orders_placed);

    const { code } = await up.stop('SIGINT');
    assert.equal(code, 0, up.output);
    assert.ok(await waitGone(pids.values(), 5_000), 'every child has exited');
    await assert.rejects(http(`${cluster.url('frontend')}/health`, { timeoutMs: 1_000 }));
  });

  test('if bazaar up is killed with kill -9, its children stop by themselves', async () => {
    const up = cluster.spawn(['up']);
    await up.waitFor(/Stock Bazaar is up/);
    const pids = childPids(up.output);
    await up.crash();
    assert.ok(await waitGone(pids.values(), 10_000), 'no role outlives its supervisor');
  });
});
