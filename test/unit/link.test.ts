// Links between our own roles: calls as frames on one upgraded connection, against a real server on
// 127.0.0.1 (the same routing and policies as its HTTP requests). Each test is a property the roles
// rely on: replies matched by number, errors kept, deadlines per call, a dead peer failing every
// open call at once, the token, and bounds on frames.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, test } from 'node:test';
import { BazaarError } from '../../src/core/errors.ts';
import { LINK_SILENCE_MAX_MS } from '../../src/core/limits.ts';
import type { Logger } from '../../src/core/logger.ts';
import { createJsonServer, type JsonServer, type Route } from '../../src/http/server.ts';
import { LinkUpstream } from '../../src/link/client.ts';
import { encodeFrame, FrameReader } from '../../src/link/frame.ts';
import { LINK_PATH, LINK_PROTOCOL } from '../../src/protocol/link.ts';

const quiet: Logger = { info: () => {}, warn: () => {}, error: () => {} };

const routes: Route[] = [
  { method: 'POST', path: '/echo', internal: true, bodyBytesMax: 1_024, handler: async ({ json }) => ({ body: { data: await json() } }) },
  {
    method: 'GET',
    path: '/slow/:ms',
    internal: true,
    handler: async ({ params }) => {
      await sleep(Number(params.ms));
      return { body: { data: { waited: Number(params.ms) } } };
    },
  },
  { method: 'GET', path: '/never', internal: true, handler: () => new Promise(() => {}) },
  {
    method: 'GET',
    path: '/refuse',
    internal: true,
    handler: () => {
      throw new BazaarError('STOCK_NOT_FOUND', 'no stock named "Nope"');
    },
  },
];

async function serve(token?: string): Promise<{ server: JsonServer; origin: string }> {
  const server = createJsonServer({ name: 'test', routes, logger: quiet, token });
  const address = await server.listen('127.0.0.1', 0);
  return { server, origin: `http://127.0.0.1:${address.port}` };
}

describe('a link between two roles', () => {
  const open: Array<{ close(): Promise<void> }> = [];
  after(async () => {
    await Promise.all(open.map((item) => item.close()));
  });

  test('answers concurrent calls on one connection by number, whatever order they finish in', async () => {
    const { server, origin } = await serve();
    const link = new LinkUpstream('test', origin);
    open.push(link, server);
    const replies = await Promise.all([link.call('GET', '/slow/60'), link.call('GET', '/slow/0'), link.call('POST', '/echo', { n: 3 })]);
    assert.deepEqual(
      replies.map((reply) => reply.body),
      [{ data: { waited: 60 } }, { data: { waited: 0 } }, { data: { n: 3 } }],
    );
  });

  test('keeps an error\'s status and stable code, and refuses unknown paths and too-large bodies as HTTP would', async () => {
    const { server, origin } = await serve();
    const link = new LinkUpstream('test', origin);
    open.push(link, server);
    const refused = await link.call('GET', '/refuse');
    assert.equal(refused.status, 404);
    assert.equal(refused.errorCode, 'STOCK_NOT_FOUND');
    assert.deepEqual(refused.body, { error: { code: 404, message: 'no stock named "Nope"' } });
    assert.equal((await link.call('GET', '/nowhere')).status, 404);
    assert.equal((await link.call('POST', '/slow/1')).status, 405);
    const large = await link.call('POST', '/echo', { text: 'x'.repeat(4_000) });
    assert.equal(large.status, 413);
    assert.equal(large.errorCode, 'PAYLOAD_TOO_LARGE');
    assert.equal((await link.call('POST', '/echo')).status, 400, 'a POST without a body');
  });

  test('fails a call past its deadline alone; the link goes on serving others', async () => {
    const { server, origin } = await serve();
    const link = new LinkUpstream('test', origin);
    open.push(link, server);
    const started = performance.now();
    await assert.rejects(link.call('GET', '/slow/400', undefined, { timeoutMs: 50 }), (error: BazaarError) => error.code === 'UPSTREAM_UNAVAILABLE' && /within 50 ms/.test(error.message));
    assert.ok(performance.now() - started < 300, 'the deadline, not the reply, ended the call');
    assert.equal((await link.call('GET', '/slow/0')).status, 200);
  });

  test('fails every open call at once when the peer goes away, and opens a new connection for the next', async () => {
    const { server, origin } = await serve();
    const link = new LinkUpstream('test', origin);
    open.push(link, server);
    assert.equal((await link.call('GET', '/slow/0')).status, 200);
    const calls = [link.call('GET', '/never', undefined, { timeoutMs: 5_000 }), link.call('GET', '/never', undefined, { timeoutMs: 5_000 })];
    await sleep(20);
    const started = performance.now();
    // The server drains (nothing /never waits on ends) and then cuts the link, as a crash would.
    const closing = server.close();
    for (const call of calls) await assert.rejects(call, (error: BazaarError) => error.code === 'UPSTREAM_UNAVAILABLE');
    assert.ok(performance.now() - started < 4_000, 'the calls failed when the connection closed, not at their deadlines');
    await closing;

    const again = createJsonServer({ name: 'test', routes, logger: quiet });
    await again.listen('127.0.0.1', Number(new URL(origin).port));
    open.push(again);
    assert.equal((await link.call('GET', '/slow/0')).status, 200, 'the same link reaches the restarted peer');
  });

  test('a stall of this process is not the peer\'s silence: a call answered while this end was blocked succeeds', async () => {
    const { server, origin } = await serve();
    const link = new LinkUpstream('test', origin);
    open.push(link, server);
    assert.equal((await link.call('GET', '/slow/0')).status, 200);
    const call = link.call('GET', '/slow/40', undefined, { timeoutMs: 5_000 });
    // This process blocks for twice the silence limit while the peer (here, in the same process)
    // would have answered; the link's timer then fires late, before the loop reads the reply.
    await sleep(10);
    const until = performance.now() + 2 * LINK_SILENCE_MAX_MS;
    while (performance.now() < until);
    const reply = await call;
    assert.equal(reply.status, 200, 'the call was answered, not failed as hung');
  });

  test('needs the cluster token when one is set', async () => {
    const { server, origin } = await serve('s3cret');
    const without = new LinkUpstream('test', origin);
    const withToken = new LinkUpstream('test', origin, { token: 's3cret' });
    open.push(without, withToken, server);
    await assert.rejects(without.call('GET', '/slow/0'), (error: BazaarError) => error.code === 'UPSTREAM_UNAVAILABLE' && /401/.test(error.message));
    assert.equal((await withToken.call('GET', '/slow/0')).status, 200);
  });

  test('closes a connection that sends a frame larger than the bound, or one that is not a request', async () => {
    const { server, origin } = await serve();
    open.push(server);
    const port = Number(new URL(origin).port);
    for (const bad of [Buffer.from([0xff, 0xff, 0xff, 0xff]), encodeFrame({ hello: 'world' })]) {
      const socket = connect(port, '127.0.0.1');
      socket.write(`GET ${LINK_PATH} HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\nupgrade: ${LINK_PROTOCOL}\r\n\r\n`);
      await new Promise<void>((resolve) => socket.once('data', () => resolve()));
      socket.write(bad);
      const closed = await Promise.race([new Promise<boolean>((resolve) => socket.once('close', () => resolve(true))), sleep(2_000).then(() => false)]);
      socket.destroy();
      assert.ok(closed, `the server closed the link after ${bad.length} bytes of a bad frame`);
    }
  });
});

describe('frames', () => {
  test('are read whole however the stream is cut', () => {
    const values = [{ i: 0, s: 200, b: { data: 'é✓' } }, { i: 1, s: 404 }, { i: 2, s: 200, b: 'x'.repeat(300) }];
    const bytes = Buffer.concat(values.map((value) => encodeFrame(value)));
    for (const size of [1, 3, 7, bytes.length]) {
      const reader = new FrameReader(1_024);
      const read: unknown[] = [];
      for (let at = 0; at < bytes.length; at += size) read.push(...reader.push(bytes.subarray(at, at + size)).map((frame) => frame.value));
      assert.deepEqual(read, values, `in pieces of ${size} bytes`);
    }
  });

  test('a large one arriving in many chunks is read once it is whole, with the frames around it', () => {
    const big = { i: 7, s: 200, b: 'y'.repeat(2 * 1024 * 1024) };
    const bytes = Buffer.concat([encodeFrame({ i: 6, s: 200 }), encodeFrame(big), encodeFrame({ i: 8, s: 404 })]);
    const reader = new FrameReader(4 * 1024 * 1024);
    const read: unknown[] = [];
    for (let at = 0; at < bytes.length; at += 64 * 1024) read.push(...reader.push(bytes.subarray(at, at + 64 * 1024)).map((frame) => frame.value));
    assert.deepEqual(read, [{ i: 6, s: 200 }, big, { i: 8, s: 404 }]);
  });

  test('longer than the bound are refused before they are buffered', () => {
    const reader = new FrameReader(10);
    assert.throws(() => reader.push(encodeFrame({ text: 'longer than ten bytes' })), /larger than 10/);
  });
});
