// A full disk, for real: the leader's data folder is a tiny tmpfs that fills up under load. The
// leader must refuse the write (never acknowledge an order it could not make durable), step down by
// exiting with an error (a supervisor does not restart it on a loop), and the frontend fails over
// with no order lost or doubled. Root only (mount); skipped elsewhere with the reason.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import * as client from '../../src/client/index.ts';
import { loadConfig } from '../../src/core/config.ts';
import { assertConserved, catalogStocks, readOrderLog } from '../../harness/checks.ts';
import { TestCluster } from '../../harness/cluster.ts';
import { eventually } from '../../harness/wait.ts';

function mountUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'mounting a tmpfs needs root';
  const probe = spawnSync('sh', ['-c', 'd=$(mktemp -d) && mount -t tmpfs -o size=64k tmpfs "$d" && umount "$d"; s=$?; rmdir "$d"; exit $s'], { encoding: 'utf8' });
  return probe.status === 0 ? undefined : `cannot mount a tmpfs here: ${probe.stderr.trim()}`;
}
const unavailable = mountUnavailable();

describe('a full disk under the leader', { skip: unavailable === undefined ? false : `skipped: ${unavailable}` }, () => {
  let cluster: TestCluster;
  let mountPoint = '';
  before(async () => {
    cluster = await TestCluster.create({ replicas: 3 });
    mountPoint = path.dirname(cluster.orderLogPath(3));
    await mkdir(mountPoint, { recursive: true });
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mountPoint], { encoding: 'utf8' });
    assert.equal(mounted.status, 0, mounted.stderr);
  });
  after(async () => {
    spawnSync('umount', ['-l', mountPoint]);
    await cluster.destroy();
  });

  test('ENOSPC on the leader: it acknowledges nothing it could not write, exits with the reason, and clients see no error', { timeout: 90_000 }, async () => {
    const { orders } = await cluster.startAll();
    const leader = orders.get(3)!;
    const config = loadConfig(cluster.configPath);
    const stop = new AbortController();
    const running = client.run({ frontend: cluster.url('frontend'), p: 0.8, iterations: 1_000_000, clients: 5, seed: 64, stocks: config.catalog.stocks.map((stock) => stock.name), signal: stop.signal });
    try {
      const deadline = Date.now() + 30_000;
      while (leader.running && Date.now() < deadline) await sleep(50);
      await sleep(1_000);
    } finally {
      stop.abort();
    }
    const report = await running;
    const { code } = await leader.exited;
    assert.equal(code, 1, `the leader stepped down by exiting with an error:\n${leader.output.slice(-2000)}`);
    assert.match(leader.output, /writing .*orders\.jsonl(\.keys)? failed: ENOSPC/);
    assert.equal(report.errors, 0, client.formatReport(report));
    assert.equal(report.mismatches, 0, client.formatReport(report));

    // The survivors hold every acknowledged order exactly once, and the catalog matches them.
    await eventually(async () => {
      const [one, two] = await Promise.all([readOrderLog(cluster.orderLogPath(1)), readOrderLog(cluster.orderLogPath(2))]);
      assert.deepEqual(one, two, 'the two survivors agree');
      assert.equal(one.length, report.orders_placed, 'each acknowledged order logged once');
      assertConserved(one, await catalogStocks(cluster.url('catalog')));
    }, 10_000, 200);
  });
});
