// Exit codes and figures that never report failure as success (the README's exit-status table):
// usage errors exit 2; admin status exits 1 with a role down; admin crash of a replica that is down
// (or of a cluster that is not running) exits 1; the client's latency table counts successful
// requests only, and shows – for a kind with none.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ClientReport } from '../../src/client/index.ts';
import { freePorts, Proc, TestCluster } from '../../harness/cluster.ts';

async function run(cluster: TestCluster, args: string[]): Promise<{ code: number | null; output: string }> {
  const proc: Proc = cluster.spawn(args);
  const { code } = await proc.exited;
  return { code, output: proc.output };
}

describe('command-line exit codes', () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await TestCluster.create({ replicas: 3 });
  });
  after(() => cluster.destroy());

  test('an unknown flag or a bad value is a usage error: exit 2', async () => {
    const { code, output } = await run(cluster, ['admin', 'status', '--bogus']);
    assert.equal(code, 2, output);
    assert.match(output, /unknown option '--bogus'/);
    const badValue = await run(cluster, ['client', '--p', '2']);
    assert.equal(badValue.code, 2, badValue.output);
    assert.match(badValue.output, /must be a number from 0 to 1/);
  });

  test('a config file that does not parse is a config error: exit 2', async () => {
    const bad = path.join(cluster.dir, 'bad.json');
    await writeFile(bad, '{ "frontend": ');
    // Not cluster.spawn, which adds the cluster's own --config.
    const [command, ...leading] = cluster.command;
    const proc = new Proc('admin status', spawn(command!, [...leading, 'admin', 'status', '--config', bad], { stdio: ['ignore', 'pipe', 'pipe'] }));
    const { code } = await proc.exited;
    const output = proc.output;
    assert.equal(code, 2, output);
    assert.match(output, /bad\.json/);
  });

  test('init: a new cluster\'s disks are made once; again on them is exit 1 (a lost disk needs no init), a replica not in the config exit 2; a disk of another replica is refused at start', async () => {
    const fresh = await TestCluster.create({ replicas: 3, init: false });
    try {
      const first = await run(fresh, ['init']);
      assert.equal(first.code, 0, first.output);
      assert.match(first.output, /initialised the disks of order replicas 1, 2, 3 of cluster "bazaar"/);
      const again = await run(fresh, ['init', '--id', '2']);
      assert.equal(again.code, 1, again.output);
      assert.match(again.output, /not a new cluster: .*replica 2's disk was initialised already.*needs no init/);
      const unknown = await run(fresh, ['init', '--id', '9']);
      assert.equal(unknown.code, 2, unknown.output);
      assert.match(unknown.output, /replica 9 is not in the config/);
      // Replica 1's folder given to replica 2: refused, naming both, not recovered over.
      const identity = path.join(fresh.dataDir, 'order-1', 'identity.json');
      await writeFile(path.join(fresh.dataDir, 'order-2', 'identity.json'), await readFile(identity, 'utf8'));
      const foreign = await run(fresh, ['order', '--id', '2']);
      assert.equal(foreign.code, 1, foreign.output);
      assert.match(foreign.output, /this data folder belongs to replica 1 of cluster "bazaar", not replica 2/);
    } finally {
      await fresh.destroy();
    }
  });

  test('with nothing running: admin recover exits 1, saying how to start the replica instead', async () => {
    const { code, output } = await run(cluster, ['admin', 'recover', '--id', '2']);
    assert.equal(code, 1, output);
    assert.match(output, /systemctl start bazaar-order@2/);
    assert.doesNotMatch(output, /is back/);
  });

  test('with nothing running: admin status exits 1, admin crash exits 1 and says the replica is down', async () => {
    const status = await run(cluster, ['admin', 'status']);
    assert.equal(status.code, 1, status.output);
    assert.match(status.output, /DOWN/);
    const crash = await run(cluster, ['admin', 'crash', '--id', '2']);
    assert.equal(crash.code, 1, crash.output);
    assert.match(crash.output, /order replica 2 is down already/);
    assert.doesNotMatch(crash.output, /crashed/);
  });

  test('with the cluster up: status 0; a crash 0, the same crash again 1; status 1 with it down', async () => {
    await cluster.startAll();
    assert.equal((await run(cluster, ['admin', 'status'])).code, 0);
    const first = await run(cluster, ['admin', 'crash', '--id', '2']);
    assert.equal(first.code, 0, first.output);
    assert.match(first.output, /order replica 2 crashed/);
    const again = await run(cluster, ['admin', 'crash', '--id', '2']);
    assert.equal(again.code, 1, again.output);
    assert.match(again.output, /down already/);
    assert.equal((await run(cluster, ['admin', 'status'])).code, 1);
  });

  test('the client against a frontend that is not there: exit 1, the failures are errors by kind, not latency samples', async () => {
    const [port] = await freePorts(1);
    const json = path.join(cluster.dir, 'nothing-there.json');
    const { code, output } = await run(cluster, ['client', '--frontend', `http://127.0.0.1:${port}`, '--iterations', '1', '--clients', '1', '--p', '0', '--json', json]);
    assert.equal(code, 1, output);
    assert.match(output, /^lookup\s+0\s+–\s+–\s+–\s+–\s+–$/m);
    assert.match(output, /errors: 1 \(lookup 1, trade 0, order query 0\),/);
    assert.match(output, /verification: FAILED/);
    const report = JSON.parse(await readFile(json, 'utf8')) as ClientReport;
    assert.deepEqual(report.latency.lookup, { count: 0, p50_ms: null, p90_ms: null, p99_ms: null, max_ms: null, mean_ms: null });
    assert.deepEqual(report.errors_by_kind, { lookup: 1, trade: 0, order_query: 0 });
  });

  test('--duration ends a client run on time, and it still verifies what it placed', async () => {
    // The cluster of the tests before, one replica down: trades still commit on the other two.
    const client = cluster.spawn(['client', '--iterations', '10000000', '--clients', '2', '--p', '0.5', '--duration', '2']);
    const startedAt = Date.now();
    const timer = setTimeout(() => client.running && process.kill(client.pid, 'SIGKILL'), 20_000);
    const { code } = await client.exited;
    clearTimeout(timer);
    assert.equal(code, 0, client.output);
    assert.ok(Date.now() - startedAt < 15_000, `a 2 s run took ${Date.now() - startedAt} ms`);
    assert.match(client.output, /verification: passed/);
  });

  test('Ctrl-C stops the client, which still verifies every order it placed: exit 0', async () => {
    // The cluster of the test before, one replica down: trades still commit on the other two.
    const client = cluster.spawn(['client', '--iterations', '10000000', '--clients', '2', '--p', '0.5']);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    process.kill(client.pid, 'SIGINT');
    const { code } = await client.exited;
    assert.equal(code, 0, client.output);
    assert.match(client.output, /stopping; verifying the orders placed/);
    const placed = Number(/orders placed: (\d+)/.exec(client.output)?.[1]);
    assert.ok(placed > 0, client.output);
    assert.match(client.output, /^order_query\s+(\d+)\s/m);
    assert.equal(Number(/^order_query\s+(\d+)\s/m.exec(client.output)?.[1]), placed, 'every order placed was read back');
    assert.match(client.output, /verification: passed/);
  });
});
