// `bazaar up` tells the truth at start: a role that cannot start (its port taken, its data locked)
// makes up stop the others and exit non-zero with that role's own error, and readiness is the
// child's own PID answering its health check, never whatever else answers the port. And once up,
// it brings back a catalog or frontend killed by a signal (replicas only with --restart-replicas).
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, afterEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { childPids, http, pidOf, postOrder, type Proc, TestCluster } from '../../harness/cluster.ts';
import { until } from '../../harness/wait.ts';

/** The PID a role's health names, or undefined while it does not answer. */
/** A trade retried on 503 (as the client does, with Retry-After), at most `attempts` times. */
async function tradeWithRetries(frontend: string, attempts: number): Promise<{ status: number; refused: number }> {
  let refused = 0;
  for (let attempt = 1; ; attempt += 1) {
    let status: number;
    try {
      status = (await postOrder(frontend, { name: 'FishCo', quantity: 1, type: 'sell' }, { 'idempotency-key': 'up-restart-trade' })).status;
    } catch {
      status = 0;
    }
    if ((status !== 503 && status !== 0) || attempt === attempts) return { status, refused };
    refused += 1;
    await sleep(50);
  }
}

/** How `up` exited, or a failure naming what it printed if it is still running after `timeoutMs`. */
async function exitOf(up: Proc, timeoutMs = 30_000): Promise<number | null> {
  const timer = new Promise<'running'>((resolve) => setTimeout(() => resolve('running'), timeoutMs).unref());
  const outcome = await Promise.race([up.exited, timer]);
  if (outcome === 'running') {
    await up.stop();
    assert.fail(`bazaar up still runs after ${timeoutMs} ms; it printed:\n${up.output}`);
  }
  return outcome.code;
}

async function answers(url: string): Promise<boolean> {
  try {
    await fetch(`${url}/health`, { signal: AbortSignal.timeout(1_000) });
    return true;
  } catch {
    return false;
  }
}

describe('bazaar up at start', () => {
  let cluster: TestCluster | undefined;
  let stranger: Server | undefined;
  const extra: Proc[] = [];

  afterEach(async () => {
    await new Promise<void>((resolve) => (stranger === undefined ? resolve() : stranger.close(() => resolve())));
    stranger = undefined;
    for (const proc of extra.splice(0)) await proc.stop();
    await cluster?.destroy();
    cluster = undefined;
  });
  after(async () => {
    await cluster?.destroy();
  });

  test('another program on the frontend\'s port: up stops the rest and exits 1 with the frontend\'s error', async () => {
    cluster = await TestCluster.create({ replicas: 3 });
    // Something that answers every health check with 200, as the process in the issue did.
    stranger = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"data":{"status":"up"}}');
    });
    await new Promise<void>((resolve) => stranger!.listen(cluster!.ports.frontend, '127.0.0.1', resolve));
    const up = cluster.spawn(['up', '--no-dashboard']);
    assert.equal(await exitOf(up), 1, up.output);
    assert.doesNotMatch(up.output, /Stock Bazaar is up/);
    assert.match(up.output, /bazaar up: frontend exited during start: .*EADDRINUSE/);
    assert.match(up.output, /another process \(not a bazaar role\) answers/);
    for (const role of ['catalog', 1, 2, 3] as const) assert.equal(await answers(cluster.url(role)), false, `${role} was stopped`);
  });

  test('a replica already running on its own: the one up starts cannot take its port or its log, and up says so', async () => {
    cluster = await TestCluster.create({ replicas: 3 });
    const lone = cluster.spawn(['order', '--id', '2']);
    extra.push(lone);
    await lone.waitFor(/listening/);
    const up = cluster.spawn(['up', '--no-dashboard']);
    assert.equal(await exitOf(up), 1, up.output);
    assert.doesNotMatch(up.output, /Stock Bazaar is up/);
    assert.match(up.output, new RegExp(`bazaar up: order-2 exited during start: .*another process \\(pid ${lone.pid}\\) answers`));
    assert.ok(lone.running, 'the replica up did not start is left alone');
    for (const role of ['catalog', 1, 3] as const) assert.equal(await answers(cluster.url(role)), false, `${role} was stopped`);
  });

  test('once up, a catalog or frontend killed with kill -9 is restarted; a trade retried on 503 goes through', async () => {
    cluster = await TestCluster.create({ replicas: 3 });
    const up = cluster.spawn(['up', '--no-dashboard']);
    extra.push(up);
    await up.waitFor(/Stock Bazaar is up/);
    const pids = childPids(up.output);
    assert.equal((await postOrder(cluster.url('frontend'), { name: 'FishCo', quantity: 1, type: 'buy' })).status, 200);

    process.kill(pids.get('catalog')!, 'SIGKILL');
    const catalogPid = await until('a new catalog answers', async () => {
      const pid = await pidOf(cluster!.url('catalog'));
      return pid !== undefined && pid !== pids.get('catalog') ? pid : undefined;
    }, 20_000);
    assert.match(up.output, /catalog \(pid \d+\) was killed by SIGKILL; restarting it/);
    const { status } = await tradeWithRetries(cluster.url('frontend'), 100);
    assert.equal(status, 200);

    process.kill(pids.get('frontend')!, 'SIGKILL');
    await until('a new frontend answers', async () => {
      const pid = await pidOf(cluster!.url('frontend'));
      return pid !== undefined && pid !== pids.get('frontend') ? pid : undefined;
    }, 20_000);
    assert.equal((await postOrder(cluster.url('frontend'), { name: 'FishCo', quantity: 1, type: 'buy' })).status, 200);
    assert.ok(catalogPid > 0);

    // A replica waits for `admin recover`, as the lab's crash tests expect.
    process.kill(pids.get('order-1')!, 'SIGKILL');
    await sleep(1_500);
    assert.equal(await pidOf(cluster.url(1)), undefined, 'replica 1 stays down without --restart-replicas');
    assert.match(up.output, /order-1 \(pid \d+\) exited with SIGKILL; the other roles keep running; bring it back with: bazaar admin recover --id 1/);
  });

  test('with --restart-replicas, a replica killed with kill -9 comes back and catches up', async () => {
    cluster = await TestCluster.create({ replicas: 3 });
    const up = cluster.spawn(['up', '--no-dashboard', '--restart-replicas']);
    extra.push(up);
    await up.waitFor(/Stock Bazaar is up/);
    const pids = childPids(up.output);
    process.kill(pids.get('order-2')!, 'SIGKILL');
    await until('replica 2 answers again', async () => {
      const pid = await pidOf(cluster!.url(2));
      return pid !== undefined && pid !== pids.get('order-2') ? pid : undefined;
    }, 20_000);
    assert.equal((await postOrder(cluster.url('frontend'), { name: 'FishCo', quantity: 1, type: 'buy' })).status, 200);
  });
});
