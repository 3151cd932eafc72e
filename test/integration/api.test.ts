// The public API, exactly as docs/design.md gives it, against real processes over real HTTP.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertConserved, catalogStocks, readOrderLog } from '../../harness/checks.ts';
import { http, postOrder, type JsonReply, TestCluster, waitHealthy } from '../../harness/cluster.ts';

function assertError(reply: JsonReply, status: number, pattern: RegExp): void {
  assert.equal(reply.status, status, reply.text);
  const error = (reply.body as { error?: { code?: unknown; message?: unknown } }).error;
  assert.equal(error?.code, status, `error.code is the status: ${reply.text}`);
  assert.ok(typeof error?.message === 'string' && pattern.test(error.message), `message matches ${pattern}: ${reply.text}`);
  assert.match(reply.headers.get('content-type') ?? '', /application\/json/);
}

describe('public API', () => {
  let cluster: TestCluster;
  let api = '';

  before(async () => {
    cluster = await TestCluster.create({ replicas: 1 });
    await cluster.startAll();
    api = cluster.url('frontend');
  });
  after(() => cluster.destroy());

  test('GET /stocks/{name} returns the stock in the lab shape', async () => {
    const reply = await http(`${api}/stocks/GameStart`);
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.body, { data: { name: 'GameStart', price: 15.99, quantity: 100, volume: 0 } });
  });

  test('an unknown or impossible stock name is 404, whatever its characters', async () => {
    for (const name of ['Nope', '..%2F..%2Fetc%2Fpasswd', '%C3%A9t%C3%A9', 'x'.repeat(10_000), 'Game%20Start', '%00']) {
      assertError(await http(`${api}/stocks/${name}`), 404, /no stock named/);
    }
    assertError(await http(`${api}/stocks/%E0%A4%A`), 400, /percent-encoding/);
  });

  test('POST /orders trades, numbers orders from 0, and GET /orders/{n} reads them back', async () => {
    const first = await postOrder(api, { name: 'FishCo', quantity: 3, type: 'buy' });
    assert.equal(first.status, 200, first.text);
    assert.deepEqual(first.body, { data: { transaction_number: 0 } });
    const second = await postOrder(api, { name: 'FishCo', quantity: 1, type: 'sell' });
    assert.deepEqual(second.body, { data: { transaction_number: 1 } });

    assert.deepEqual((await http(`${api}/orders/0`)).body, { data: { number: 0, name: 'FishCo', type: 'buy', quantity: 3 } });
    assert.deepEqual((await http(`${api}/orders/1`)).body, { data: { number: 1, name: 'FishCo', type: 'sell', quantity: 1 } });
    assert.deepEqual((await http(`${api}/stocks/FishCo`)).body, { data: { name: 'FishCo', price: 12.5, quantity: 98, volume: 4 } });
  });

  test('bad order bodies are 400 with the field named, and change nothing', async () => {
    const logBefore = await readOrderLog(cluster.orderLogPath(1));
    const stocksBefore = await catalogStocks(cluster.url('catalog'));
    const cases: Array<[unknown, RegExp]> = [
      [{ name: 'FishCo', quantity: 0, type: 'buy' }, /"quantity"/],
      [{ name: 'FishCo', quantity: -5, type: 'buy' }, /"quantity"/],
      [{ name: 'FishCo', quantity: 1.5, type: 'buy' }, /"quantity"/],
      [{ name: 'FishCo', quantity: '2', type: 'buy' }, /"quantity"/],
      [{ name: 'FishCo', quantity: 1e300, type: 'buy' }, /"quantity"/],
      [{ name: 'FishCo', quantity: 2, type: 'steal' }, /"type"/],
      [{ name: 'FishCo', quantity: 2 }, /"type"/],
      [{ name: 42, quantity: 2, type: 'buy' }, /"name"/],
      [{ quantity: 2, type: 'buy' }, /"name"/],
      [{ name: 'FishCo', quantity: 2, type: 'buy', extra: true }, /unknown field "extra"/],
      [[{ name: 'FishCo', quantity: 2, type: 'buy' }], /JSON object/],
      [null, /JSON object/],
    ];
    for (const [body, pattern] of cases) assertError(await postOrder(api, body), 400, pattern);
    assertError(await http(`${api}/orders`, { method: 'POST', body: '{"name": "FishCo", ', headers: { 'content-type': 'application/json' } }), 400, /not valid JSON/);
    assertError(await http(`${api}/orders`, { method: 'POST', body: '', headers: { 'content-type': 'application/json' } }), 400, /empty/);
    assertError(await http(`${api}/orders`, { method: 'POST', body: 'name=FishCo', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415, /application\/json/);
    assertError(await http(`${api}/orders`, { method: 'POST', body: JSON.stringify({ name: 'x'.repeat(20_000), quantity: 1, type: 'buy' }), headers: { 'content-type': 'application/json' } }), 413, /larger than/);
    assertError(await postOrder(api, { name: 'FishCo', quantity: 1, type: 'buy' }, { 'idempotency-key': 'has space' }), 400, /Idempotency-Key/);

    assert.deepEqual(await readOrderLog(cluster.orderLogPath(1)), logBefore, 'no rejected request reached the order log');
    assert.deepEqual(await catalogStocks(cluster.url('catalog')), stocksBefore, 'no rejected request changed the catalog');
  });

  test('an unknown stock is 404 and buying more than is available is 409; neither changes anything', async () => {
    const logBefore = await readOrderLog(cluster.orderLogPath(1));
    assertError(await postOrder(api, { name: 'Nope', quantity: 1, type: 'buy' }), 404, /no stock named "Nope"/);
    assertError(await postOrder(api, { name: 'BoarCo', quantity: 101, type: 'buy' }), 409, /only 100 available/);
    assert.deepEqual(await readOrderLog(cluster.orderLogPath(1)), logBefore);
    assert.equal(((await http(`${api}/stocks/BoarCo`)).body as { data: { quantity: number } }).data.quantity, 100);
  });

  test('GET /orders/{number} is 400 for anything but a non-negative integer and 404 for no such order', async () => {
    for (const number of ['-1', '1.5', 'abc', '1e3', '%20']) assertError(await http(`${api}/orders/${number}`), 400, /not a non-negative integer/);
    assertError(await http(`${api}/orders/999999`), 404, /no order with number 999999/);
  });

  test('Idempotency-Key: the same key returns the same number and trades once; reused for another order it is 422', async () => {
    const headers = { 'idempotency-key': 'api-test-key-1' };
    const first = await postOrder(api, { name: 'MenhirCo', quantity: 7, type: 'buy' }, headers);
    const again = await postOrder(api, { name: 'MenhirCo', quantity: 7, type: 'buy' }, headers);
    assert.equal(first.status, 200, first.text);
    assert.deepEqual(again.body, first.body);
    assert.deepEqual((await http(`${api}/stocks/MenhirCo`)).body, { data: { name: 'MenhirCo', price: 22, quantity: 93, volume: 7 } });
    assertError(await postOrder(api, { name: 'MenhirCo', quantity: 8, type: 'buy' }, headers), 422, /already used/);
  });

  test('unknown paths are 404 and wrong methods 405 with Allow, in the error shape', async () => {
    assertError(await http(`${api}/nope`), 404, /no such endpoint/);
    assertError(await http(`${api}/stocks`), 404, /no such endpoint/);
    assertError(await http(`${api}/`), 404, /no such endpoint/);
    const wrong = await http(`${api}/stocks/FishCo`, { method: 'DELETE' });
    assertError(wrong, 405, /not allowed/);
    assert.equal(wrong.headers.get('allow'), 'GET');
    assertError(await http(`${api}/orders`, { method: 'GET' }), 405, /use POST/);
    assertError(await http(`${api}/orders/1`, { method: 'PUT', body: '{}' }), 405, /use GET/);
  });

  test('GET /health and GET /metrics answer', async () => {
    const health = await http(`${api}/health`);
    assert.equal(health.status, 200);
    const { cache, pid, ...rest } = (health.body as { data: { cache: { enabled: boolean; max: number }; pid: number } }).data;
    assert.deepEqual(rest, { role: 'frontend', status: 'up', leader: 1, epoch: 1 });
    assert.ok(Number.isInteger(pid) && pid > 0, 'it names its process');
    assert.deepEqual({ enabled: cache.enabled, max: cache.max }, { enabled: true, max: 100 });
    const metrics = await http(`${api}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(metrics.headers.get('content-type') ?? '', /text\/plain/);
    assert.match(metrics.text, /bazaar_frontend_requests_total\{route="POST \/orders",status="200"\} \d+/);
    // The stage timings a trade's latency breakdown is built from, in every role that has them.
    const stages: Array<[string, RegExp[]]> = [
      [api, [/bazaar_frontend_stage_total\{stage="leader"\} [1-9]/, /bazaar_frontend_request_duration_seconds_count\{route="POST \/orders"\} [1-9]/]],
      [cluster.url('catalog'), [/bazaar_catalog_stage_total\{stage="approve"\} [1-9]/, /bazaar_catalog_request_duration_seconds_count\{route="POST \/internal\/approve"\} [1-9]/, /bazaar_catalog_request_duration_seconds_count\{route="POST \/internal\/apply"\} [1-9]/]],
      [cluster.url(1), [/bazaar_order_stage_total\{stage="catalog"\} [1-9]/, /bazaar_order_stage_total\{stage="log_append"\} [1-9]/, /bazaar_order_request_duration_seconds_count\{route="POST \/orders"\} [1-9]/]],
    ];
    for (const [url, patterns] of stages) {
      const text = (await http(`${url}/metrics`)).text;
      for (const pattern of patterns) assert.match(text, pattern, url);
    }
  });

  test('the catalog matches the order log (G4) after everything above', async () => {
    assertConserved(await readOrderLog(cluster.orderLogPath(1)), await catalogStocks(cluster.url('catalog')));
  });
});

describe('public API without an order replica', () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await TestCluster.create({ replicas: 1 });
  });
  after(() => cluster.destroy());

  test('with no replica answering, trades and order queries are 503 with Retry-After; lookups still work', async () => {
    await cluster.start('catalog');
    const replica = await cluster.start(1);
    await cluster.start('frontend');
    const api = cluster.url('frontend');
    assert.equal((await postOrder(api, { name: 'FishCo', quantity: 1, type: 'buy' })).status, 200);
    // The catalog hears the trade committed just after the reply; until then it holds it as a
    // reservation, and a lookup of FishCo waits for its fate (G8), which no replica could tell.
    await waitHealthy(cluster.url('catalog'), undefined, 5_000, (data) => (data.trades as number) >= 1, 'applied the trade');
    await replica.crash();

    const trade = await postOrder(api, { name: 'FishCo', quantity: 1, type: 'buy' });
    assertError(trade, 503, /unavailable|no order replica/);
    assert.equal(trade.headers.get('retry-after'), '1');
    assertError(await http(`${api}/orders/0`), 503, /no order replica/);
    assert.equal((await http(`${api}/stocks/FishCo`)).status, 200);
  });
});
