// Hostile input against a running frontend (G7): generated requests (fast-check, seeded) with wrong
// methods, hostile paths and percent-encodings, wrong content types, malformed, truncated, deeply
// nested or oversized bodies, wrong field types, huge and fractional numbers; plus malformed HTTP,
// oversized headers, a client that trickles its headers, and thousands of idle connections. Every
// answer is a 4xx in the error shape (or a closed socket for the slow attacks), never a 5xx, no
// process dies, and the catalog and the order log are unchanged. With the cluster's TLS: garbage,
// plain HTTP, an old TLS version and handshakes left half done on every role's TLS port are closed
// without an answer, logged in a few lines, and bounded in time and memory.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { Pool } from 'undici';
import { parseTradeRequest } from '../../src/core/trade.ts';
import { catalogStocks, readOrderLog } from '../../harness/checks.ts';
import { http, TestCluster } from '../../harness/cluster.ts';

const SEED = 20261121;
const RUNS = 400;

const hostileSegment = fc.oneof(
  fc.string({ maxLength: 40 }).map(encodeURIComponent),
  fc.string({ unit: 'grapheme', maxLength: 20 }).map(encodeURIComponent),
  fc.constantFrom('..', '%2e%2e', '%2F', '%2F..%2Fetc%2Fpasswd', '%', '%zz', '%00', '%E0%A4%A', 'GameStart%20', '-1', '1.5', '1e3', '0x10', 'NaN', 'Infinity', '99999999999999999999', '%20%31', 'x'.repeat(10_000), '%C3%A9t%C3%A9'),
);

const path = fc.oneof(
  fc.tuple(fc.constantFrom('/stocks/', '/orders/', '/', '/health/', '/internal/', '/stocks/GameStart/'), hostileSegment).map(([prefix, segment]) => `${prefix}${segment}`),
  fc.constantFrom('/orders', '/stocks', '/', '//orders', '/orders?x=1', '/orders/', '/internal/cache/invalidate', '/stocks/GameStart?name=FishCo'),
);

const hostileTrade = fc.record(
  {
    name: fc.oneof(fc.string({ maxLength: 80 }), fc.constantFrom('FishCo', '../FishCo', 'FishCo\u0000', 'x'.repeat(10_000)), fc.integer(), fc.constant(null), fc.array(fc.string(), { maxLength: 3 })),
    quantity: fc.oneof(fc.double(), fc.integer({ min: -1_000, max: 0 }), fc.constantFrom(1e308, 1.5, -1, 0, 2 ** 53 + 2, 1_000_001, '3', null, true), fc.integer({ min: 2_000_000 })),
    type: fc.oneof(fc.constantFrom('buy', 'sell', 'BUY', 'hold', '', null, 1), fc.string({ maxLength: 10 })),
    extra: fc.jsonValue(),
  },
  { requiredKeys: [] },
);

const body = fc.oneof(
  fc.jsonValue().map((value) => JSON.stringify(value)),
  fc.string({ maxLength: 200 }),
  hostileTrade.map((value) => JSON.stringify(value)),
  fc.integer({ min: 1, max: 50 }).map((cut) => JSON.stringify({ name: 'FishCo', quantity: 1, type: 'buy' }).slice(0, cut)),
  fc.integer({ min: 100, max: 8_000 }).map((depth) => `${'['.repeat(depth)}${']'.repeat(depth)}`),
  fc.integer({ min: 100, max: 3_000 }).map((depth) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`),
  fc.constantFrom('x'.repeat(20_000), '{"name":"FishCo","quantity":1,"type":"buy"}{"extra":1}', '\u0000\u0001', '[]', 'null', '{"__proto__":{"admin":true}}'),
);

const contentType = fc.constantFrom(undefined, 'application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/vnd.api+json');
const key = fc.option(fc.oneof(fc.string({ maxLength: 200 }).filter((text) => !/[\r\n\0]/.test(text)), fc.constantFrom('has space', 'x'.repeat(200), 'ok-key')), { nil: undefined });

// Most requests are trades with hostile bodies (where state could change); the rest roam the API.
const request = fc.oneof(
  { weight: 3, arbitrary: fc.record({ method: fc.constant('POST'), path: fc.constant('/orders'), contentType: fc.constantFrom(undefined, 'application/json', 'text/plain'), key, body: body.map((text): string | undefined => text) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'FOO'),
      path,
      contentType,
      key,
      body: fc.option(body, { nil: undefined }),
    }),
  },
);

/** Would this be a valid trade? Those are left out: this test is about what must be refused. */
function isValidTrade(text: string | undefined): boolean {
  try {
    parseTradeRequest(JSON.parse(text ?? ''));
    return true;
  } catch {
    return false;
  }
}

describe('hostile input against the frontend (G7)', () => {
  let cluster: TestCluster;
  let api = '';
  before(async () => {
    cluster = await TestCluster.create({ replicas: 1 });
    await cluster.startAll();
    api = cluster.url('frontend');
    // One real order, so the leader exists and order queries have something to refuse around.
    const reply = await http(`${api}/orders`, { method: 'POST', body: JSON.stringify({ name: 'FishCo', quantity: 1, type: 'buy' }), headers: { 'content-type': 'application/json' } });
    assert.equal(reply.status, 200);
  });
  after(() => cluster.destroy());

  test(`${RUNS} generated hostile requests each get a clear 4xx (or a 200 for a harmless read), never a 5xx, and change nothing (seed ${SEED})`, async (t) => {
    const logBefore = await readOrderLog(cluster.orderLogPath(1));
    const stocksBefore = await catalogStocks(cluster.url('catalog'));
    const pool = new Pool(api, { connections: 4 });
    const statuses = new Map<number, number>();
    try {
      await fc.assert(
        fc.asyncProperty(request, async (generated) => {
          fc.pre(!(generated.method === 'POST' && generated.path === '/orders' && isValidTrade(generated.body)));
          const headers: Record<string, string> = {};
          if (generated.contentType !== undefined) headers['content-type'] = generated.contentType;
          if (generated.key !== undefined) headers['idempotency-key'] = generated.key;
          const hasBody = generated.body !== undefined && !['GET', 'TRACE'].includes(generated.method);
          let status: number;
          let text: string;
          try {
            const reply = await pool.request({ method: generated.method, path: generated.path, headers, body: hasBody ? generated.body : undefined, headersTimeout: 5_000, bodyTimeout: 5_000 });
            status = reply.statusCode;
            text = await reply.body.text();
          } catch (error) {
            // A closed socket is an acceptable answer to a body past the limit; anything else is not.
            if (hasBody && Buffer.byteLength(generated.body!) > 16 * 1024) return;
            throw error;
          }
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          assert.ok(status < 500, `${generated.method} ${generated.path.slice(0, 80)} got ${status}: ${text.slice(0, 200)}`);
          if (status >= 400) {
            const parsed = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
            assert.equal(parsed.error?.code, status);
            assert.equal(typeof parsed.error?.message, 'string');
          } else {
            assert.ok(generated.method === 'GET' || generated.method === 'OPTIONS', `only reads may succeed: ${generated.method} ${generated.path} got ${status}`);
          }
        }),
        { numRuns: RUNS, seed: SEED, endOnFailure: true },
      );
    } finally {
      await pool.close();
    }
    t.diagnostic(`statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}`);
    assert.ok((statuses.get(400) ?? 0) > 0 && (statuses.get(404) ?? 0) > 0 && (statuses.get(405) ?? 0) > 0, `a spread of refusals: ${JSON.stringify(Object.fromEntries(statuses))}`);
    assert.deepEqual(await readOrderLog(cluster.orderLogPath(1)), logBefore, 'no refused request reached the order log');
    assert.deepEqual(await catalogStocks(cluster.url('catalog')), stocksBefore, 'no refused request changed the catalog');
    for (const role of ['frontend', 'catalog', 1] as const) assert.equal((await http(`${cluster.url(role)}/health`)).status, 200, `${role} is alive`);
  });

  test('malformed HTTP gets 400 in the error shape, oversized headers 431, and the connection closes', async () => {
    const port = Number(new URL(api).port);
    const exchange = (bytes: string): Promise<string> =>
      new Promise((resolve, reject) => {
        const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes));
        let received = '';
        socket.on('data', (chunk) => (received += chunk.toString()));
        socket.on('close', () => resolve(received));
        socket.on('error', reject);
        socket.setTimeout(10_000, () => socket.destroy(new Error('no answer')));
      });
    const garbage = await exchange('GARBAGE \u0001\u0002 NOT-HTTP\r\n\r\n');
    assert.match(garbage, /^HTTP\/1\.1 400 /);
    assert.match(garbage, /\{"error":\{"code":400,"message":"malformed HTTP request"\}\}/);
    const huge = await exchange(`GET /stocks/FishCo HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    assert.match(huge, /^HTTP\/1\.1 431 /);
    assert.match(huge, /"code":431/);
  });

  test('a client that trickles its headers is cut off (socket closed) once the header timeout passes', async () => {
    const port = Number(new URL(api).port);
    const startedAt = Date.now();
    const closedAfter = await new Promise<number>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => socket.write('GET /stocks/FishCo HTTP/1.1\r\nHost: x\r\n'));
      const trickle = setInterval(() => socket.write('X'), 250);
      const bound = setTimeout(() => socket.destroy(), 15_000);
      socket.on('error', () => {});
      socket.on('close', () => {
        clearInterval(trickle);
        clearTimeout(bound);
        resolve(Date.now() - startedAt);
      });
    });
    assert.ok(closedAfter < 15_000, `the server closed the slow socket (after ${closedAfter} ms), the test's bound did not`);
    assert.equal((await http(`${api}/stocks/FishCo`)).status, 200, 'the frontend still serves');
  });

  test('two thousand idle connections do not keep the frontend from serving', async () => {
    const port = Number(new URL(api).port);
    const sockets = await Promise.all(
      Array.from({ length: 2_000 }, () => new Promise<net.Socket>((resolve, reject) => {
        const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
        socket.on('error', reject);
      })),
    );
    try {
      const reply = await http(`${api}/stocks/FishCo`);
      assert.equal(reply.status, 200);
      assert.equal((await http(`${api}/orders/0`)).status, 200);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
  });
});

describe('hostile input on TLS ports (the cluster\'s mutual TLS)', () => {
  let cluster: TestCluster;
  let procs: Awaited<ReturnType<TestCluster['startAll']>>;
  before(async () => {
    cluster = await TestCluster.create({ replicas: 3, tls: true, token: 'hostile-tls-token' });
    procs = await cluster.startAll();
    const reply = await http(`${cluster.url('frontend')}/orders`, { method: 'POST', body: JSON.stringify({ name: 'FishCo', quantity: 1, type: 'buy' }), headers: { 'content-type': 'application/json' } });
    assert.equal(reply.status, 200);
  });
  after(() => cluster.destroy());

  /** Sends raw bytes to a TLS port; what came back before the close (never an HTTP answer), or 'open' if the bound passed. */
  const raw = (port: number, bytes: Buffer | string, boundMs = 10_000): Promise<string> =>
    new Promise((resolve) => {
      let received = '';
      const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes));
      const bound = setTimeout(() => {
        socket.destroy();
        resolve('open');
      }, boundMs);
      socket.on('data', (chunk) => (received += chunk.toString('latin1')));
      socket.on('error', () => {});
      socket.on('close', () => {
        clearTimeout(bound);
        resolve(received);
      });
    });

  const rss = async (pid: number): Promise<number> => Number(/VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;

  test('garbage, plain HTTP and a TLS 1.2 handshake on every role\'s TLS port: the connection closes with no HTTP answer, no role dies, the log says so in a few lines', async () => {
    const ports = [cluster.ports.frontend, cluster.ports.catalog, ...cluster.ports.orders.values()];
    const random = fc.sample(fc.uint8Array({ minLength: 1, maxLength: 2_000 }), { seed: SEED, numRuns: 60 });
    // Every port at once: garbage that looks like the start of a record waits out the handshake timeout.
    await Promise.all(ports.map(async (port) => {
      const answers = await Promise.all([
        raw(port, 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n'),
        raw(port, 'POST /internal/crash HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer hostile-tls-token\r\nContent-Length: 2\r\n\r\n{}'),
        ...random.map((bytes) => raw(port, Buffer.from(bytes))),
      ]);
      for (const answer of answers) assert.doesNotMatch(answer, /HTTP\/1\.1/, `port ${port} answered in clear HTTP`);
      const old = await new Promise<string>((resolve) => {
        const socket = tls.connect({ host: '127.0.0.1', port, maxVersion: 'TLSv1.2', rejectUnauthorized: false }, () => resolve('handshake done'));
        socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
      });
      assert.notEqual(old, 'handshake done', `port ${port} took TLS 1.2`);
    }));
    for (const proc of [procs.frontend, procs.catalog, ...procs.orders.values()]) {
      assert.ok(proc.running, `${proc.name} is alive`);
      const lines = proc.output.split('\n').filter((line) => line.includes('TLS handshake'));
      assert.ok(lines.length >= 1 && lines.length <= 12, `${proc.name} logged ${lines.length} handshake lines for ${random.length + 3} failures:\n${lines.join('\n')}`);
    }
    assert.equal((await http(`${cluster.url('frontend')}/stocks/FishCo`)).status, 200);
  });

  test('five hundred clients that open a TLS connection and stall in the handshake are cut once its timeout passes; meanwhile trades go through and memory stays bounded', async () => {
    const replicaPort = cluster.ports.orders.get(1)!;
    const leaderRssBefore = await rss(procs.orders.get(1)!.pid);
    const frontendRssBefore = await rss(procs.frontend.pid);
    const startedAt = Date.now();
    // Half a ClientHello (a record header that promises more), then silence.
    const stalls = [...Array(250)].flatMap(() => [raw(cluster.ports.frontend, Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]), 15_000), raw(replicaPort, Buffer.from([0x16, 0x03, 0x01]), 15_000)]);
    await sleep(500);
    const trade = await http(`${cluster.url('frontend')}/orders`, { method: 'POST', body: JSON.stringify({ name: 'FishCo', quantity: 1, type: 'sell' }), headers: { 'content-type': 'application/json' } });
    assert.equal(trade.status, 200, 'a trade goes through while the stalled handshakes are held');
    const frontendRssHeld = await rss(procs.frontend.pid);
    const leaderRssHeld = await rss(procs.orders.get(1)!.pid);
    const outcomes = await Promise.all(stalls);
    const tookMs = Date.now() - startedAt;
    assert.equal(outcomes.filter((outcome) => outcome === 'open').length, 0, 'every stalled handshake was cut by the server, not by the test\'s bound');
    assert.ok(tookMs < 12_000, `cut within the handshake timeout (took ${tookMs} ms)`);
    assert.ok(frontendRssHeld - frontendRssBefore < 64 * 1024 * 1024, `the frontend grew ${Math.round((frontendRssHeld - frontendRssBefore) / 1e6)} MB`);
    assert.ok(leaderRssHeld - leaderRssBefore < 64 * 1024 * 1024, `replica 1 grew ${Math.round((leaderRssHeld - leaderRssBefore) / 1e6)} MB`);
    for (const proc of [procs.frontend, ...procs.orders.values()]) assert.ok(proc.running, `${proc.name} is alive`);
  });
});
