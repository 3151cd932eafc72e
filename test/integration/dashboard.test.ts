// `bazaar dashboard` on its own, against a cluster another process runs (here `bazaar up
// --no-dashboard`), from the sources: its page and stream, what it reads, and its refusals.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Snapshot } from '../../src/protocol/dashboard.ts';
import { http, postOrder, type Proc, TestCluster } from '../../harness/cluster.ts';
import { eventually } from '../../harness/wait.ts';

/** The first Server-Sent Event of the stream: its name and data. */
async function firstEvent(url: string): Promise<{ event: string; data: unknown }> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 10_000);
  try {
    const reply = await fetch(url, { signal: controller.signal });
    assert.match(reply.headers.get('content-type') ?? '', /text\/event-stream/);
    const reader = reply.body!.getReader();
    let text = '';
    while (!text.includes('\n\n')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString('utf8');
    }
    const event = /^event: (.*)$/m.exec(text)?.[1] ?? '';
    const data = JSON.parse(/^data: (.*)$/m.exec(text)?.[1] ?? 'null') as unknown;
    return { event, data };
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}

describe('bazaar dashboard, on its own', () => {
  let cluster: TestCluster;
  let up: Proc;
  let dashboard: Proc;

  before(async () => {
    cluster = await TestCluster.create({ replicas: 3, token: 'secret-token' });
    up = cluster.spawn(['up', '--no-dashboard']);
    await up.waitFor(/Stock Bazaar is up/);
    assert.match(up.output, /dashboard: off \(--no-dashboard\)/);
    dashboard = cluster.spawn(['dashboard']);
    await dashboard.waitFor(/Stock Bazaar dashboard: http:\/\/127\.0\.0\.1:\d+\//);
  });

  after(async () => {
    await dashboard?.stop();
    await up?.stop('SIGINT');
    await cluster?.destroy();
  });

  test('serves the page and its assets from memory, with a policy that allows no other origin', async () => {
    const page = await http(cluster.url('dashboard'));
    assert.equal(page.status, 200);
    assert.match(page.text, /<script src="\/app.js"/);
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    for (const asset of ['/app.js', '/style.css', '/uplot.js', '/uplot.css']) assert.equal((await http(`${cluster.url('dashboard')}${asset}`)).status, 200, asset);
    assert.equal((await http(`${cluster.url('dashboard')}/nope.js`)).status, 404);
  });

  test('reads the cluster: three replicas, the leader, PIDs from the local up, and G4', async () => {
    assert.equal((await postOrder(cluster.url('frontend'), { name: 'BoarCo', quantity: 2, type: 'buy' })).status, 200);
    await eventually(async () => {
      const snapshot = ((await http(`${cluster.url('dashboard')}/api/snapshot`)).body as { data: Snapshot }).data;
      assert.equal(snapshot.replicas.length, 3);
      assert.equal(snapshot.replicas.filter((replica) => replica.sync === 'leader').length, 1);
      assert.ok(snapshot.replicas.every((replica) => typeof replica.pid === 'number' && replica.pid > 0));
      assert.equal(snapshot.supervised, true);
      assert.equal(snapshot.tokenRequired, true);
      assert.equal(snapshot.conservation.state, 'equal');
      assert.equal(snapshot.stocks.find((stock) => stock.name === 'BoarCo')?.volume, 2);
    });
  });

  test('streams a hello with the state and history first', async () => {
    const { event, data } = await firstEvent(`${cluster.url('dashboard')}/api/stream`);
    assert.equal(event, 'hello');
    const hello = data as { snapshot: Snapshot; points: unknown[]; events: unknown[] };
    assert.equal(hello.snapshot.replicas.length, 3);
    assert.ok(Array.isArray(hello.points) && Array.isArray(hello.events));
  });

  test('actions need the token, and bad requests are refused with a clear 4xx', async () => {
    const base = cluster.url('dashboard');
    const post = (path: string, body: unknown, token?: string) =>
      http(`${base}${path}`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) } });
    assert.equal((await post('/api/leader/crash', {})).status, 401);
    assert.equal((await post('/api/replicas/9/crash', {}, 'secret-token')).status, 404);
    assert.equal((await post('/api/replicas/abc/crash', {}, 'secret-token')).status, 400);
    assert.equal((await post('/api/leader/hang', { seconds: 31 }, 'secret-token')).status, 400);
    assert.equal((await post('/api/load', { p: 2, sessions: 1, iterations: 1 }, 'secret-token')).status, 400);
    assert.equal((await post('/api/load', { p: 0.5, sessions: 1000, iterations: 1 }, 'secret-token')).status, 400);
    // A crash of a replica that is down already is refused, not reported as done.
    assert.equal((await post('/api/replicas/1/crash', {}, 'secret-token')).status, 200);
    await eventually(async () => assert.equal(((await http(`${base}/api/snapshot`)).body as { data: Snapshot }).data.replicas[0]!.up, false));
    const again = await post('/api/replicas/1/crash', {}, 'secret-token');
    assert.equal(again.status, 400);
    assert.match(again.text, /down already/);
    assert.equal((await post('/api/replicas/1/recover', {}, 'secret-token')).status, 200);
  });
});
