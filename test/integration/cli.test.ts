// Exit codes and figures that never report failure as success (DESIGN's command-line conventions):
// usage errors exit 2; admin status exits 1 with a role down; admin crash of a replica that is down
// (or of a cluster that is not running) exits 1; the client's latency table counts successful
// requests only, and shows – for a kind with none.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { freePorts, type Proc, TestCluster } from '../helpers/cluster.ts';

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

  test('an unknown flag is a usage error: exit 2', async () => {
    const { code, output } = await run(cluster, ['admin', 'status', '--bogus']);
    assert.equal(code, 2, output);
    assert.match(output, /unknown option '--bogus'/);
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

  test('the client against a frontend that is not there: exit 1, the failures are errors, not latency samples', async () => {
    const [port] = await freePorts(1);
    const { code, output } = await run(cluster, ['client', '--frontend', `http://127.0.0.1:${port}`, '--iterations', '1', '--clients', '1', '--p', '0']);
    assert.equal(code, 1, output);
    assert.match(output, /^lookup\s+0\s+–\s+–\s+–\s+–\s+–$/m);
    assert.match(output, /errors: 1,/);
    assert.match(output, /verification: FAILED/);
  });
});
