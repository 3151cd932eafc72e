// Overload: the frontend works on a bounded number of requests; past the bound it answers 503 with
// Retry-After at once instead of queueing without end. Driven for real: the leader hangs (SIGSTOP),
// so requests pile up at the frontend, and more are sent than the bound allows.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Pool } from 'undici';
import { FRONTEND_IN_FLIGHT_MAX } from '../../src/core/limits.ts';
import { assertConserved, catalogStocks, readOrderLog } from '../helpers/checks.ts';
import { postOrder, TestCluster } from '../helpers/cluster.ts';
import { eventually } from '../helpers/wait.ts';

const EXTRA = 300;

describe('overload', () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await TestCluster.create({ replicas: 3 });
  });
  after(() => cluster.destroy());

  test(`with the leader hung, ${FRONTEND_IN_FLIGHT_MAX + EXTRA} concurrent trades: those past the bound get 503 + Retry-After at once, the rest succeed after failover, nothing is lost or doubled`, async (t) => {
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
    const overloaded = results.filter((result) => result.status === 503);
    const succeeded = results.filter((result) => result.status === 200);
    t.diagnostic(`${succeeded.length} succeeded, ${overloaded.length} refused as overloaded; the last answer came after ${Math.round(Math.max(...results.map((result) => result.ms)))} ms`);
    assert.equal(succeeded.length + overloaded.length, total, `only 200 or 503: ${JSON.stringify([...new Set(results.map((result) => result.status))])}`);
    assert.ok(overloaded.length >= EXTRA / 2, `requests past the bound were refused (${overloaded.length})`);
    assert.ok(overloaded.every((result) => result.code === 'OVERLOADED' && result.retryAfter === '1'), 'each refusal says why and when to retry');
    assert.ok(succeeded.length >= FRONTEND_IN_FLIGHT_MAX / 2, `the requests within the bound were served after failover (${succeeded.length})`);

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
