// Overload: a server works on a bounded number of requests; past the bound it answers 503 with
// Retry-After at once instead of queueing without end. The bound itself is checked on a server whose
// handler holds every request until told (a hung leader no longer holds the frontend's requests
// long enough to reach it: the link gives a silent peer up in 300 ms). Then the frontend, for real:
// more concurrent trades than its bound while the leader hangs (SIGSTOP).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Pool } from 'undici';
import { FRONTEND_IN_FLIGHT_MAX } from '../../src/core/limits.ts';
import { createLogger } from '../../src/core/logger.ts';
import { createJsonServer } from '../../src/http/server.ts';
import { assertConserved, catalogStocks, readOrderLog } from '../../harness/checks.ts';
import { postOrder, TestCluster } from '../../harness/cluster.ts';
import { eventually } from '../../harness/wait.ts';

const EXTRA = 300;

describe('overload', () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await TestCluster.create({ replicas: 3 });
  });
  after(() => cluster.destroy());

  test('past its in-flight bound a server answers 503 with Retry-After at once, and serves the rest when they finish', async () => {
    const BOUND = 8;
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const server = createJsonServer({
      name: 'held',
      logger: createLogger(),
      inFlightMax: BOUND,
      routes: [{ method: 'GET', path: '/held', handler: async () => (await released, { body: { data: 'done' } }) }],
    });
    const { port } = await server.listen('127.0.0.1', 0);
    const pool = new Pool(`http://127.0.0.1:${port}`, { connections: BOUND * 3 });
    try {
      const replies = Array.from({ length: BOUND * 3 }, async () => {
        const reply = await pool.request({ method: 'GET', path: '/held', headersTimeout: 10_000 });
        return { status: reply.statusCode, retryAfter: reply.headers['retry-after'], text: await reply.body.text() };
      });
      // The refusals come back while the held requests are still held.
      const early = await Promise.race([Promise.all(replies), new Promise<'held'>((resolve) => setTimeout(() => resolve('held'), 1_000))]);
      assert.equal(early, 'held', 'the held requests wait');
      release();
      const all = await Promise.all(replies);
      const refused = all.filter((reply) => reply.status === 503);
      assert.ok(refused.length >= BOUND, `requests past the bound were refused (${refused.length})`);
      assert.ok(refused.every((reply) => reply.retryAfter === '1' && /working on \d+ requests already/.test(reply.text)), 'each refusal says why and when to retry');
      assert.equal(all.filter((reply) => reply.status === 200).length + refused.length, all.length);
      assert.ok(all.filter((reply) => reply.status === 200).length >= BOUND, 'the requests within the bound were served');
    } finally {
      release();
      await pool.close();
      await server.close();
    }
  });

  test(`with the leader hung, ${FRONTEND_IN_FLIGHT_MAX + EXTRA} concurrent trades: each gets 200 or a 503 that says why and when to retry, and nothing is lost or doubled`, async (t) => {
    const { orders } = await cluster.startAll();
    const api = cluster.url('frontend');
    assert.equal((await postOrder(api, { name: 'FishCo', quantity: 1, type: 'sell' }, { 'idempotency-key': 'warm' })).status, 200);
    const leader = orders.get(3)!;
    process.kill(leader.pid, 'SIGSTOP');
    const total = FRONTEND_IN_FLIGHT_MAX + EXTRA;
    const pool = new Pool(api, { connections: total });
    const startedAt = performance.now();
    const results: Array<{ key: string; status: number; retryAfter: string | undefined; ms: number; code: string | undefined }> = [];
    try {
      await Promise.all(
        Array.from({ length: total }, async (_, index) => {
          const key = `load-${index}`;
          const reply = await pool.request({
            method: 'POST',
            path: '/orders',
            headers: { 'content-type': 'application/json', 'idempotency-key': key },
            body: JSON.stringify({ name: 'FishCo', quantity: 1, type: 'sell' }),
            headersTimeout: 60_000,
          });
          const text = await reply.body.text();
          const retryAfter = reply.headers['retry-after'];
          results.push({ key, status: reply.statusCode, retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined, ms: performance.now() - startedAt, code: /working on \d+ requests already/.test(text) ? 'OVERLOADED' : undefined });
        }),
      );
    } finally {
      process.kill(leader.pid, 'SIGCONT');
      await pool.close();
    }
    const refused = results.filter((result) => result.status === 503);
    const succeeded = results.filter((result) => result.status === 200);
    t.diagnostic(`${succeeded.length} succeeded, ${refused.length} refused (${refused.filter((result) => result.code === 'OVERLOADED').length} as overloaded); the last answer came after ${Math.round(Math.max(...results.map((result) => result.ms)))} ms`);
    assert.equal(succeeded.length + refused.length, total, `only 200 or 503: ${JSON.stringify([...new Set(results.map((result) => result.status))])}`);
    assert.ok(refused.every((result) => result.retryAfter === '1'), 'each refusal says when to retry');
    assert.ok(succeeded.length >= FRONTEND_IN_FLIGHT_MAX / 2, `the trades were served after failover (${succeeded.length})`);

    // Everything acknowledged is logged once, and the catalog matches, once the hung leader is back.
    await eventually(async () => {
      const log = await readOrderLog(cluster.orderLogPath(2));
      const keys = new Set(log.map((entry) => entry.key));
      for (const result of succeeded) assert.ok(keys.has(result.key), `${result.key} is logged`);
      assert.equal(log.filter((entry) => entry.key.startsWith('load-')).length, succeeded.length, 'refused trades were not logged');
      assertConserved(log, await catalogStocks(cluster.url('catalog')));
    }, 15_000, 200);
  });
});
