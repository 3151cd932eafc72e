// A lost disk loses nothing, with real processes: under five traders, replicas are killed with -9
// and come back with their whole data folder gone, their log gone, their state gone, or a line of
// their log damaged; each recovers from its peers before it counts. Then the worst order we can
// build: a replica loses its disk while another is down (it must wait: it may not count), becomes
// needed for every majority, and the leader is killed. Every run: the client exits 0 with every
// order read back under its acknowledged number, no line the leader had committed is ever
// rewritten, and the logs end byte-identical.
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, test } from 'node:test';
import { assertConserved, catalogStocks, readOrderLog } from '../../harness/checks.ts';
import { http, type Proc, TestCluster } from '../../harness/cluster.ts';
import { eventually, until } from '../../harness/wait.ts';

type Loss = 'folder' | 'log' | 'state' | 'damaged line';

async function loseDisk(cluster: TestCluster, id: number, loss: Loss): Promise<void> {
  const folder = path.dirname(cluster.orderLogPath(id));
  if (loss === 'folder') return rm(folder, { recursive: true, force: true });
  if (loss === 'log') return rm(cluster.orderLogPath(id), { force: true });
  if (loss === 'state') return rm(path.join(folder, 'state.json'), { force: true });
  // A bit flipped in the middle of the log: the line's checksum no longer matches.
  const text = await readFile(cluster.orderLogPath(id), 'utf8');
  const lines = text.split('\n');
  const middle = Math.floor((lines.length - 1) / 2);
  assert.ok(middle > 0, 'the log has lines to damage');
  lines[middle] = lines[middle]!.replace('"quantity":', '"quantitx":');
  await writeFile(cluster.orderLogPath(id), lines.join('\n'));
}

async function replicaState(cluster: TestCluster, id: number): Promise<string | undefined> {
  try {
    const reply = await http(`${cluster.url(id)}/health`, { timeoutMs: 1_000 });
    return reply.status === 200 ? (reply.body as { data: { state: string } }).data.state : undefined;
  } catch {
    return undefined;
  }
}

/** Waits until replica `id` has recovered: it answers, and no longer as recovering. */
async function recovered(cluster: TestCluster, id: number, proc: Proc): Promise<void> {
  await until(`replica ${id} recovers`, async () => {
    assert.ok(proc.running, `replica ${id} exited:\n${proc.output}`);
    const state = await replicaState(cluster, id);
    return state !== undefined && state !== 'recovering' ? true : undefined;
  }, 20_000);
  assert.match(proc.output, /recovered: this log equals leader \d's through \d+ orders/);
}

/** The committed prefix of the leader's log as it is now: lines that no replica may ever rewrite. */
async function committedLines(cluster: TestCluster): Promise<string[]> {
  for (const id of [1, 2, 3]) {
    try {
      const reply = await http(`${cluster.url(id)}/health`, { timeoutMs: 1_000 });
      const data = (reply.body as { data: { serving: boolean; commitLength: number | null } }).data;
      if (reply.status !== 200 || !data.serving || data.commitLength === null) continue;
      return (await readFile(cluster.orderLogPath(id), 'utf8')).split('\n').slice(0, data.commitLength);
    } catch {
      // Not this one.
    }
  }
  return [];
}

/** The client's verdict, logs that end byte-identical and equal to the catalog (G4), and no committed line rewritten. */
async function assertWhole(cluster: TestCluster, client: Proc, committed: readonly string[][]): Promise<void> {
  const { code } = await client.exited;
  assert.equal(code, 0, client.output);
  assert.match(client.output, /verification: passed/);
  await eventually(async () => {
    const texts = await Promise.all([1, 2, 3].map((id) => readFile(cluster.orderLogPath(id), 'utf8')));
    assert.ok(texts.every((text) => text === texts[0]), `the logs are byte-identical (${texts.map((text) => text.length).join(', ')} bytes)`);
    assertConserved(await readOrderLog(cluster.orderLogPath(1)), await catalogStocks(cluster.url('catalog')));
  }, 15_000);
  assert.ok((await readOrderLog(cluster.orderLogPath(1))).length > 100, 'trades went on');
  const final = (await readFile(cluster.orderLogPath(1), 'utf8')).split('\n');
  for (const lines of committed) {
    assert.ok(lines.length > 0, 'a committed prefix was read');
    lines.forEach((line, index) => assert.equal(final[index], line, `committed line ${index + 1} was rewritten`));
  }
}

describe('a lost disk loses nothing', () => {
  const clusters: TestCluster[] = [];
  after(async () => {
    for (const cluster of clusters) await cluster.destroy();
  });

  test('under 5 traders, followers come back with their folder, their log or their state gone, or a damaged line: each recovers before it counts, and nothing is lost', async () => {
    const cluster = await TestCluster.create({ replicas: 3 });
    clusters.push(cluster);
    const { orders } = await cluster.startAll();
    const client = cluster.spawn(['client', '--clients', '5', '--p', '0.6', '--iterations', '1000000', '--duration', '16', '--seed', '24']);
    const timer = setTimeout(() => client.running && process.kill(client.pid, 'SIGKILL'), 90_000);
    const losses: Array<[number, Loss]> = [[1, 'folder'], [2, 'log'], [1, 'state'], [2, 'damaged line']];
    const committed: string[][] = [];
    for (const [id, loss] of losses) {
      await sleep(1_500);
      committed.push(await committedLines(cluster));
      await orders.get(id)!.crash();
      await loseDisk(cluster, id, loss);
      const proc = await cluster.start(id);
      orders.set(id, proc);
      await recovered(cluster, id, proc);
    }
    assert.match(orders.get(2)!.output, /line \d+ of its order log is damaged \(checksum mismatch\)/);
    await assertWhole(cluster, client, committed);
    clearTimeout(timer);
  });

  test('the worst order: a disk lost while another replica is down (it waits, counting for nothing), then it is needed for every majority, and the leader is killed', async () => {
    const cluster = await TestCluster.create({ replicas: 3 });
    clusters.push(cluster);
    const { orders } = await cluster.startAll();
    const client = cluster.spawn(['client', '--clients', '5', '--p', '0.6', '--iterations', '1000000', '--duration', '14', '--seed', '25']);
    const timer = setTimeout(() => client.running && process.kill(client.pid, 'SIGKILL'), 90_000);
    await sleep(1_500);
    const committed = [await committedLines(cluster)];
    // Replica 1 is down; replica 2 comes back with nothing. With only the leader sound, replica 2
    // must not recover (it could not know the newest epoch) and must not count.
    await orders.get(1)!.crash();
    await orders.get(2)!.crash();
    await loseDisk(cluster, 2, 'folder');
    orders.set(2, await cluster.start(2));
    await sleep(700);
    assert.equal(await replicaState(cluster, 2), 'recovering', 'with one of its two peers down, it waits');
    assert.match(orders.get(2)!.output, /1 of its 2 peers answered/);
    const status = cluster.spawn(['admin', 'status']);
    assert.equal((await status.exited).code, 1, 'admin status exits 1: a replica down, another recovering');
    assert.match(status.output, /order 2\s+\S+\s+up\s+recovering/);
    assert.match(status.output, /order 2 is recovering a lost disk: asking its peers where the cluster stands/);
    orders.set(1, await cluster.start(1));
    await recovered(cluster, 2, orders.get(2)!);
    // Now replica 2 is needed for every majority; then the leader goes, and 1 comes back.
    await orders.get(1)!.crash();
    await sleep(1_500);
    committed.push(await committedLines(cluster));
    await orders.get(3)!.crash();
    orders.set(1, await cluster.start(1));
    await sleep(1_500);
    orders.set(3, await cluster.start(3));
    await assertWhole(cluster, client, committed);
    clearTimeout(timer);
  });
});
