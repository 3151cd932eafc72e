// Several frontends on one cluster (`frontends` in the config, all started by `bazaar up`): the
// catalog pushes to each, read-your-writes holds across them (a trade acknowledged through one,
// then a lookup through another, never shows the stock from before the trade), and a leader's death
// costs one election, not one per frontend.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as admin from '../../src/admin/index.ts';
import { loadConfig } from '../../src/core/config.ts';
import type { Snapshot } from '../../src/protocol/dashboard.ts';
import { childPids, freePorts, http, postOrder, type Proc, TestCluster } from '../../harness/cluster.ts';
import { until } from '../../harness/wait.ts';

const FRONTENDS = 3;

describe('three frontends', () => {
  let cluster: TestCluster;
  let up: Proc;
  let urls: string[];

  before(async () => {
    const ports = await freePorts(FRONTENDS);
    cluster = await TestCluster.create({ replicas: 3, extra: { frontend: undefined, frontends: ports.map((port) => ({ host: '127.0.0.1', port })) } });
    urls = ports.map((port) => `http://127.0.0.1:${port}`);
    up = cluster.spawn(['up', '--no-dashboard']);
    await up.waitFor(/Stock Bazaar is up/);
    assert.match(up.output, /frontend-3 \| .*frontend 3: listening/);
  });

  after(async () => {
    await up?.stop('SIGINT');
    await cluster?.destroy();
  });

  test('the leader is chosen when the frontends start, before any request: the highest id, one epoch, named in the banner', async () => {
    const config = loadConfig(cluster.configPath);
    const status = await admin.status(config);
    const highest = Math.max(...config.orders.map((order) => order.id));
    assert.match(up.output, new RegExp(`leader: +order replica ${highest}, epoch 1\\b`));
    assert.deepEqual(
      status.orders.map((order) => [order.id, order.health?.state, order.health?.epoch, order.health?.leaderId]),
      config.orders.map((order) => [order.id, order.id === highest ? 'leader' : 'follower', 1, highest]),
      'every replica was told in epoch 1 (three frontends chose at once, and still one election)',
    );
    assert.ok(status.orders.find((order) => order.id === highest)?.health?.serving, 'the leader serves');
    for (const url of urls) {
      const health = (await http(`${url}/health`)).body as { data: { leader: number | null; epoch: number } };
      assert.deepEqual([health.data.leader, health.data.epoch], [highest, 1], `${url} follows it`);
    }
  });

  test('read your writes across frontends: after a trade through one, a lookup through any other shows it (G5)', async () => {
    // Each session owns one stock, so it knows the exact volume its trades leave; its lookups go
    // through the other frontends, which cache the stock between trades.
    const stocks = ['GameStart', 'FishCo', 'BoarCo', 'MenhirCo', 'RottenFishCo'];
    const violations: string[] = [];
    await Promise.all(
      stocks.map(async (name, session) => {
        const start = ((await http(`${urls[0]}/stocks/${name}`)).body as { data: { volume: number } }).data.volume;
        for (let count = 1; count <= 30; count += 1) {
          const via = (session + count) % FRONTENDS;
          const reply = await postOrder(urls[via]!, { name, quantity: 1, type: count % 2 === 0 ? 'buy' : 'sell' }, { 'idempotency-key': `ryw-${session}-${count}` });
          assert.equal(reply.status, 200, reply.text);
          for (let other = 0; other < FRONTENDS; other += 1) {
            if (other === via) continue;
            const seen = ((await http(`${urls[other]}/stocks/${name}`)).body as { data: { volume: number } }).data.volume;
            if (seen < start + count) violations.push(`${name}: trade ${count} acknowledged by frontend ${via + 1}, frontend ${other + 1} then showed volume ${seen} < ${start + count}`);
          }
        }
      }),
    );
    assert.deepEqual(violations, []);
    // The lookups were cached, not all sent to the catalog: each frontend has a lease and hits.
    for (const url of urls) {
      const cache = ((await http(`${url}/health`)).body as { data: { cache: { hits: number; leaseValid: boolean } } }).data.cache;
      assert.ok(cache.leaseValid, `${url} holds a lease from the catalog`);
    }
  });

  test('the leader killed while trades go through every frontend: one election, no error', async (t) => {
    const config = loadConfig(cluster.configPath);
    const before = await admin.status(config);
    const leader = before.orders.find((order) => order.health?.state === 'leader')!;
    const epoch = leader.health!.epoch;
    const electionsBefore = await elections(urls);
    let trading = true;
    const errors: string[] = [];
    const sessions = urls.map(async (url, index) => {
      for (let count = 0; trading; count += 1) {
        const reply = await postOrder(url, { name: 'CaesarTech', quantity: 1, type: count % 2 === 0 ? 'sell' : 'buy' }, { 'idempotency-key': `one-election-${index}-${count}` });
        if (reply.status !== 200) errors.push(`${url}: ${reply.status} ${reply.text}`);
      }
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await admin.crash(config, leader.id);
    await until('every frontend follows a new leader', async () => {
      const leaders = await Promise.all(urls.map(async (url) => ((await http(`${url}/health`)).body as { data: { leader: number | null } }).data.leader));
      return leaders.every((id) => id !== null && id !== leader.id) && new Set(leaders).size === 1 ? leaders : undefined;
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    trading = false;
    await Promise.all(sessions);
    assert.deepEqual(errors, []);
    const after = await admin.status(config);
    const epochs = after.orders.filter((order) => order.up).map((order) => order.health!.epoch);
    // Frontends that noticed at once may each have sent the same choice (same epoch, same leader):
    // that is one election. What must not happen is frontends outbidding each other's epochs.
    assert.deepEqual([...new Set(epochs)], [epoch + 1], 'exactly one new epoch');
    t.diagnostic(`elections started by the frontends: ${(await elections(urls)) - electionsBefore}, all for epoch ${epoch + 1}`);
    await admin.recover(config, leader.id);
  });

  test('bazaar client --frontend URL1,URL2,URL3 spreads its sessions and retries on another when one is killed', async () => {
    const pids = childPids(up.output);
    const lookups = async (url: string): Promise<number> => Number(/bazaar_frontend_requests_total\{route="GET \/stocks\/:name",status="200"\} (\d+)/.exec((await http(`${url}/metrics`)).text)?.[1] ?? 0);
    const before = await Promise.all([urls[0]!, urls[2]!].map(lookups));
    const client = cluster.spawn(['client', '--frontend', urls.join(','), '--p', '0.5', '--iterations', '150', '--clients', '6', '--seed', '9']);
    await new Promise((resolve) => setTimeout(resolve, 400));
    process.kill(pids.get('frontend-2')!, 'SIGKILL');
    const { code } = await client.exited;
    assert.equal(code, 0, client.output);
    assert.match(client.output, /errors: 0, mismatches: 0/);
    assert.match(client.output, /verification: passed/);
    // Spread: the frontends that stayed up each served a share of the sessions (six sessions over
    // three frontends, two each, plus whatever was retried away from the killed one).
    const after = await Promise.all([urls[0]!, urls[2]!].map(lookups));
    assert.ok(after[0]! - before[0]! >= 300 && after[1]! - before[1]! >= 300, `lookups per frontend: ${after.map((count, index) => count - before[index]!).join(', ')}`);
  });

  test('the dashboard shows every frontend, each with its leader, epoch and PID', async () => {
    const dashboard = cluster.spawn(['dashboard']);
    try {
      await dashboard.waitFor(/Stock Bazaar dashboard: http/);
      const snapshot = await until('the dashboard has sampled every frontend', async () => {
        const reply = await http(`${cluster.url('dashboard')}/api/snapshot`).catch(() => undefined);
        const data = (reply?.body as { data?: Snapshot } | undefined)?.data;
        return data !== undefined && data.frontends.length === FRONTENDS && data.frontends.every((frontend) => frontend.up && frontend.leader !== null) ? data : undefined;
      });
      assert.deepEqual(snapshot.frontends.map((frontend) => frontend.name), ['frontend 1', 'frontend 2', 'frontend 3']);
      assert.ok(snapshot.frontends.every((frontend) => typeof frontend.pid === 'number' && frontend.pid > 0), 'PIDs from up');
      assert.equal(new Set(snapshot.frontends.map((frontend) => `${frontend.leader}@${frontend.epoch}`)).size, 1, 'they follow one leader in one epoch');
    } finally {
      await dashboard.stop();
    }
  });
});

async function elections(urls: readonly string[]): Promise<number> {
  let total = 0;
  for (const url of urls) total += Number(/bazaar_frontend_leader_elections_total (\d+)/.exec((await http(`${url}/metrics`)).text)?.[1] ?? 0);
  return total;
}
