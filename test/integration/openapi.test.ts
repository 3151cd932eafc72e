// The public API described once: src/frontend/openapi.json is a valid OpenAPI 3.1 document (checked
// by a standard validator), the frontend serves it at GET /openapi.json, and the replies a frontend
// gives are checked against it — here on purpose, and in every integration test through http().
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { conformance, OPENAPI_PATH } from '../../harness/openapi.ts';
import { http, postOrder, type Proc, TestCluster } from '../../harness/cluster.ts';

describe('the OpenAPI document of the public API', () => {
  let cluster: TestCluster;
  let up: Proc;

  before(async () => {
    cluster = await TestCluster.create({ replicas: 3 });
    up = cluster.spawn(['up', '--no-dashboard']);
    await up.waitFor(/Stock Bazaar is up/);
  });

  after(async () => {
    await up?.stop('SIGINT');
    await cluster?.destroy();
  });

  test('is a valid OpenAPI 3.1 document', async () => {
    const validator = new Validator();
    const result = await validator.validate(JSON.parse(readFileSync(OPENAPI_PATH, 'utf8')));
    assert.deepEqual(result.errors ?? [], []);
    assert.equal(result.valid, true);
    assert.equal(validator.version, '3.1');
    // The validator can say no: the same document without its required "info" is refused.
    const { info: _info, ...broken } = JSON.parse(readFileSync(OPENAPI_PATH, 'utf8')) as Record<string, unknown>;
    assert.equal((await new Validator().validate(broken)).valid, false);
  });

  test('the frontend serves it at GET /openapi.json, byte for byte the document in the repository', async () => {
    const reply = await http(`${cluster.url('frontend')}/openapi.json`);
    assert.equal(reply.status, 200);
    assert.match(reply.headers.get('content-type') ?? '', /application\/json/);
    assert.deepEqual(reply.body, JSON.parse(readFileSync(OPENAPI_PATH, 'utf8')));
  });

  test('every kind of reply the API gives conforms: lookups, trades, order reads, health, and each refusal', async () => {
    const frontend = cluster.url('frontend');
    const placed = await postOrder(frontend, { name: 'GameStart', quantity: 1, type: 'buy' }, { 'idempotency-key': 'openapi-1' });
    assert.equal(placed.status, 200);
    const number = (placed.body as { data: { transaction_number: number } }).data.transaction_number;
    const replies = [
      [200, await http(`${frontend}/stocks/GameStart`)],
      [200, await http(`${frontend}/orders/${number}`)],
      [200, await http(`${frontend}/health`)],
      [404, await http(`${frontend}/stocks/NoSuchCo`)],
      [400, await postOrder(frontend, { name: 'GameStart', quantity: 0, type: 'buy' })],
      [409, await postOrder(frontend, { name: 'GameStart', quantity: 1_000_000, type: 'buy' })],
      [422, await postOrder(frontend, { name: 'FishCo', quantity: 1, type: 'buy' }, { 'idempotency-key': 'openapi-1' })],
      [400, await http(`${frontend}/orders/-1`)],
      [404, await http(`${frontend}/orders/999999`)],
      [404, await http(`${frontend}/nowhere`)],
      [405, await http(`${frontend}/stocks/GameStart`, { method: 'DELETE' })],
    ] as const;
    assert.deepEqual(replies.map(([, reply]) => reply.status), replies.map(([status]) => status));
  });

  test('the check can fail: a reply with an extra field, a wrong type, or a 503 without Retry-After is caught', () => {
    const url = new URL('http://127.0.0.1:1/stocks/GameStart');
    const stock = { name: 'GameStart', price: 15.99, quantity: 100, volume: 0 };
    assert.deepEqual(conformance('GET', url, 200, new Headers(), { data: stock }), []);
    assert.ok(conformance('GET', url, 200, new Headers(), { data: { ...stock, version: 3 } }).length > 0, 'the catalog\'s internal version must not leak');
    assert.ok(conformance('GET', url, 200, new Headers(), { data: { ...stock, quantity: '100' } }).length > 0);
    assert.ok(conformance('GET', url, 503, new Headers(), { error: { code: 503, message: 'no catalog' } }).length > 0);
    assert.deepEqual(conformance('GET', url, 503, new Headers({ 'retry-after': '1' }), { error: { code: 503, message: 'no catalog' } }), []);
    assert.ok(conformance('GET', new URL('http://127.0.0.1:1/secret'), 200, new Headers(), {}).length > 0, 'an undocumented path may only be refused');
  });
});
