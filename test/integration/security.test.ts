// With a cluster token configured, every internal endpoint of every role answers 401 without it
// (and changes nothing), the cluster itself works end to end with it, and the public API and the
// health checks need no token.
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import * as admin from '../../src/admin/index.ts';
import { loadConfig } from '../../src/core/config.ts';
import { catalogStocks, readOrderLog } from '../../harness/checks.ts';
import { http, postOrder, TestCluster } from '../../harness/cluster.ts';
import { LINK_PATH, LINK_PROTOCOL } from '../../src/protocol/link.ts';

const TOKEN = 'test-token-7f3a9c';

/** Asks `url` for a link (fetch may not send Upgrade); resolves with the status it answered, 101 if it opened one. */
function openLink(url: string, authorization: string | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { connection: 'Upgrade', upgrade: LINK_PROTOCOL };
    if (authorization !== undefined) headers.authorization = authorization;
    const request = httpRequest(`${url}${LINK_PATH}`, { headers, timeout: 5_000 });
    request.on('upgrade', (_response, socket) => {
      socket.destroy();
      resolve(101);
    });
    request.on('response', (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('timeout', () => request.destroy(new Error('no answer')));
    request.on('error', reject);
    request.end();
  });
}
const json = { 'content-type': 'application/json' };

describe('internal endpoints with a cluster token', () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await TestCluster.create({ replicas: 3, token: TOKEN });
    await cluster.startAll();
  });
  after(() => cluster.destroy());

  test('the cluster works end to end with the token: trades replicate, the cache is invalidated, admin reads status', async () => {
    const api = cluster.url('frontend');
    assert.equal((await http(`${api}/stocks/FishCo`)).status, 200);
    for (let index = 0; index < 3; index += 1) assert.equal((await postOrder(api, { name: 'FishCo', quantity: 1, type: 'buy' })).status, 200);
    assert.deepEqual(((await http(`${api}/stocks/FishCo`)).body as { data: { quantity: number } }).data.quantity, 97);
    const status = await admin.status(loadConfig(cluster.configPath));
    assert.deepEqual(status.orders.map((order) => order.health?.lastNumber), [2, 2, 2], 'every replica has the three orders');
  });

  test('without the token, or with a wrong one, every internal endpoint answers 401 and changes nothing', async () => {
    const catalog = cluster.url('catalog');
    const leader = cluster.url(3);
    const frontend = cluster.url('frontend');
    const internal: Array<[string, string, string?]> = [
      ['GET', `${catalog}/stocks`],
      ['GET', `${catalog}/stocks/FishCo`],
      ['POST', `${catalog}/internal/approve`, JSON.stringify({ trade: { key: 'x', name: 'FishCo', type: 'buy', quantity: 1 }, epoch: 99, startLength: 0, incarnation: null, since: 0 })],
      ['POST', `${catalog}/internal/apply`, JSON.stringify({ epoch: 99, startLength: 0, commitLength: 0, from: 0, prev: null, entries: [], incarnation: null, since: 0 })],
      ['POST', `${leader}/orders`, JSON.stringify({ key: 'y', name: 'FishCo', type: 'buy', quantity: 1 })],
      ['GET', `${leader}/orders/0`],
      ['POST', `${leader}/internal/leader`, JSON.stringify({ epoch: 99, leaderId: 1 })],
      ['POST', `${leader}/internal/poll`, JSON.stringify({ epoch: 99, candidateId: 1 })],
      ['POST', `${leader}/internal/append`, JSON.stringify({ epoch: 99, leaderId: 1, startLength: 0, from: 0, prev: null, entries: [] })],
      ['GET', `${leader}/internal/entries?from=0&limit=10`],
      ['POST', `${leader}/internal/rejoin`, JSON.stringify({ id: 1 })],
      ['POST', `${leader}/internal/recover`, JSON.stringify({ id: 1 })],
      ['POST', `${leader}/internal/crash`, '{}'],
      ['POST', `${frontend}/internal/cache/invalidate`, JSON.stringify({ from: -1, to: 0, invalidations: [], leaseUntil: Date.now() + 60_000 })],
    ];
    const logBefore = await readOrderLog(cluster.orderLogPath(3));
    const stocksBefore = await catalogStocks(catalog, TOKEN);
    for (const authorization of [undefined, 'Bearer wrong-token', TOKEN, `Basic ${TOKEN}`]) {
      for (const [method, url, body] of internal) {
        const reply = await http(url, { method, body, headers: { ...json, ...(authorization === undefined ? {} : { authorization }) } });
        assert.equal(reply.status, 401, `${method} ${url} with ${authorization ?? 'no'} authorization: ${reply.text}`);
        assert.match(reply.text, /"code":401.*cluster token/);
      }
    }
    // The same routes as frames on a link: the link itself needs the token.
    for (const url of [catalog, leader, frontend]) {
      for (const authorization of [undefined, 'Bearer wrong-token']) {
        assert.equal(await openLink(url, authorization), 401, `a link to ${url} with ${authorization ?? 'no'} authorization`);
      }
    }
    assert.deepEqual(await readOrderLog(cluster.orderLogPath(3)), logBefore);
    assert.deepEqual(await catalogStocks(catalog, TOKEN), stocksBefore);
    const states = await Promise.all([1, 2, 3].map(async (id) => ((await http(`${cluster.url(id)}/health`)).body as { data: { epoch: number; state: string } }).data));
    assert.ok(states.every((state) => state.epoch < 99), 'no replica took the forged epoch');
    assert.equal(states[2]!.state, 'leader', 'the leader was neither crashed nor deposed');
  });

  test('the public API and every health check answer without a token; the frontend forwards nothing internal', async () => {
    for (const url of [cluster.url('frontend'), cluster.url('catalog'), cluster.url(1), cluster.url(2), cluster.url(3)]) {
      assert.equal((await http(`${url}/health`)).status, 200, url);
    }
    const api = cluster.url('frontend');
    assert.equal((await http(`${api}/orders/0`)).status, 200);
    for (const path of ['/internal/entries?from=0', '/internal/leader', '/internal/approve', '/internal/apply', '/stocks', '/internal/crash']) {
      const reply = await http(`${api}${path}`);
      assert.equal(reply.status, 404, `${path} is not a public endpoint: ${reply.text}`);
    }
  });
});
