// The bundle across real network hosts: every role in its own network namespace with its own
// address (two frontends), a config that lists those addresses, a cluster token, and the cluster's
// mutual TLS (certificates made by `bazaar certs`). Clients trade over HTTPS from a host of their own
// while the leader's link is cut (a partition, not a crash) and later restored; then G1-G4 and G6 are
// checked as in the chaos test, and a packet capture of the hosts' network taken meanwhile must hold
// no order and no token. One frontend is then cut off from the catalog alone: its cache must stop
// serving within the lease while the other serves on.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import type { ClusterStatus } from '../../src/admin/index.ts';
import type { ClientReport } from '../../src/client/index.ts';
import type { Stock } from '../../src/core/trade.ts';
import { assertConserved, readOrderLog } from '../../harness/checks.ts';
import { ROOT } from '../../harness/cluster.ts';
import { NetLab, netnsUnavailable } from '../helpers/netlab.ts';
import { until as waitUntil } from '../../harness/wait.ts';

const BUNDLE = path.join(ROOT, 'dist/bazaar.mjs');
const TOKEN = 'multihost-test-token';
const HOSTS = ['fe', 'cat', 'o1', 'o2', 'o3', 'cli', 'fe2'];
const unavailable = netnsUnavailable();
/** Each probe here spawns a process in a namespace: poll gently, and allow the partition time. */
const until = <T>(what: string, probe: () => T | undefined): Promise<T> => waitUntil(what, probe, 20_000, 200);
const tcpdumpMissing = spawnSync('tcpdump', ['--version']).status === 0 ? undefined : 'tcpdump is not installed (apt-get install tcpdump); .ci/run installs it';

/**
 * HTTPS requests made in order from one process, trusting the cluster's CA and showing the admin
 * certificate, as an operator's tool on another host would: argv[2] the TLS folder, argv[3] the plan.
 */
const REQUESTS_SCRIPT = `
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { readFileSync } from 'node:fs';
const dir = process.argv[2];
const tls = { ca: readFileSync(dir + '/ca.crt'), cert: readFileSync(dir + '/admin.crt'), key: readFileSync(dir + '/admin.key') };
const one = ({ method, url, body, token }) => new Promise((resolve) => {
  const target = new URL(url);
  const headers = { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(token === undefined ? {} : { authorization: 'Bearer ' + token }) };
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
  const req = request({ host: target.hostname, port: target.port, path: target.pathname, method, headers, ...tls, agent: false, timeout: 5000 }, (res) => {
    let text = '';
    res.on('data', (chunk) => (text += chunk));
    res.on('end', () => resolve({ status: res.statusCode, body: text }));
  });
  req.on('timeout', () => req.destroy(new Error('timed out')));
  req.on('error', (error) => resolve({ status: 0, body: error.message }));
  req.end(body === undefined ? undefined : JSON.stringify(body));
});
const replies = [];
for (const step of JSON.parse(process.argv[3])) replies.push(await one(step));
process.stdout.write(JSON.stringify(replies));
`;

interface Step {
  readonly method: string;
  readonly url: string;
  readonly body?: unknown;
  readonly token?: string;
}

describe('multi-host: each role on its own network host (namespaces), with mutual TLS', { skip: unavailable !== undefined ? `skipped: ${unavailable}` : tcpdumpMissing !== undefined ? `skipped: ${tcpdumpMissing}` : false }, () => {
  let lab: NetLab;
  let dir = '';
  let configPath = '';
  let scriptPath = '';
  /** What the cluster's roles printed (warnings and above). */
  let roleOutput = '';

  /** Runs `steps` in order from the client host, over HTTPS; their statuses (0: no answer) and bodies. */
  const requests = (steps: readonly Step[]): Array<{ status: number; body: string }> => {
    const result = lab.run('cli', [process.execPath, scriptPath, path.join(dir, 'certs'), JSON.stringify(steps)]);
    assert.equal(result.status, 0, result.stderr);
    return JSON.parse(result.stdout) as Array<{ status: number; body: string }>;
  };

  const status = (): ClusterStatus => {
    const result = lab.run('cli', [process.execPath, BUNDLE, 'admin', 'status', '--json', '--config', configPath]);
    // 0 with every role up, 1 with one down (partitioned or crashed): either way the JSON says which.
    assert.ok(result.status === 0 || result.status === 1, result.stderr);
    return JSON.parse(result.stdout) as ClusterStatus;
  };

  before(async () => {
    lab = NetLab.create(HOSTS);
    dir = await mkdtemp(path.join(tmpdir(), 'bazaar-multihost-'));
    configPath = path.join(dir, 'bazaar.json');
    await writeFile(
      configPath,
      JSON.stringify({
        dataDir: 'data',
        frontends: [{ host: lab.address('fe'), port: 8000 }, { host: lab.address('fe2'), port: 8000 }],
        catalog: { host: lab.address('cat'), port: 8001 },
        orders: [1, 2, 3].map((id) => ({ id, host: lab.address(`o${id}`), port: 8010 + id })),
        token: TOKEN,
        tls: { dir: 'certs' },
      }),
    );
    scriptPath = path.join(dir, 'requests.mjs');
    await writeFile(scriptPath, REQUESTS_SCRIPT);
    // The operator makes the cluster's certificates once; each host reads its own from the folder.
    const certs = spawnSync(process.execPath, [BUNDLE, 'certs', '--config', configPath], { encoding: 'utf8' });
    assert.equal(certs.status, 0, certs.stderr);
    const env = { ...process.env, BAZAAR_LOG_LEVEL: 'warn', BAZAAR_CONFIG: '' };
    // A new cluster's first start is said, on each replica's host (docs/deploy.md).
    for (const id of [1, 2, 3]) {
      const init = lab.run(`o${id}`, [process.execPath, BUNDLE, 'init', '--id', String(id), '--config', configPath]);
      assert.equal(init.status, 0, init.stderr);
    }
    for (const [host, role] of [['cat', ['catalog']], ['o1', ['order', '--id', '1']], ['o2', ['order', '--id', '2']], ['o3', ['order', '--id', '3']], ['fe', ['frontend']], ['fe2', ['frontend', '--index', '2']]] as const) {
      const child = lab.spawn(host, [process.execPath, BUNDLE, ...role, '--config', configPath], { env });
      child.stdout!.on('data', (chunk: Buffer) => (roleOutput += chunk.toString()));
      child.stderr!.on('data', (chunk: Buffer) => (roleOutput += chunk.toString()));
    }
    await until('every role answers', () => {
      const cluster = status();
      return cluster.catalog.up && cluster.frontends.every((frontend) => frontend.up) && cluster.orders.every((order) => order.up) ? true : undefined;
    });
  });

  after(async () => {
    lab?.destroy();
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  test('clients trade over HTTPS across hosts while the leader is partitioned away and back: no client error, logs converge, catalog = log; the wire holds no order and no token', async () => {
    const reportPath = path.join(dir, 'report.json');
    const capturePath = path.join(dir, 'wire.pcap');
    const capture = lab.capture(capturePath);
    let captureOutput = '';
    capture.stderr!.on('data', (chunk: Buffer) => (captureOutput += chunk.toString()));
    await until('the capture listens', () => (/listening on br0/.test(captureOutput) ? true : undefined));
    const clientProcess = lab.spawn('cli', [process.execPath, BUNDLE, 'client', '--frontend', `https://${lab.address('fe')}:8000`, '--p', '0.5', '--iterations', '1000000', '--duration', '14', '--clients', '5', '--seed', '7', '--json', reportPath, '--config', configPath]);
    let clientOutput = '';
    clientProcess.stdout!.on('data', (chunk: Buffer) => (clientOutput += chunk.toString()));
    clientProcess.stderr!.on('data', (chunk: Buffer) => (clientOutput += chunk.toString()));
    const clientDone = new Promise<number | null>((resolve) => clientProcess.once('exit', (code) => resolve(code)));

    const leader = await until('a leader serves', () => {
      const cluster = status();
      const id = cluster.orders.find((order) => order.health?.state === 'leader' && order.health.serving === true)?.id;
      return id;
    });
    await sleep(1_500);
    lab.link(`o${leader}`, false);
    const successor = await until('another replica leads', () => {
      const cluster = status();
      const id = cluster.orders.find((order) => order.up && order.health?.state === 'leader' && order.health.serving === true && order.id !== leader)?.id;
      return id;
    });
    await sleep(2_000);
    lab.link(`o${leader}`, true);

    const code = await clientDone;
    const report = JSON.parse(await readFile(reportPath, 'utf8')) as ClientReport;
    assert.equal(report.errors, 0, `no client-visible error (G6)\n${clientOutput}`);
    assert.equal(report.mismatches, 0, clientOutput);
    assert.equal(code, 0, clientOutput);
    assert.ok(report.orders_placed > 50, `orders flowed (${report.orders_placed})`);
    assert.notEqual(successor, leader);

    // The partitioned replica rejoins: every log the same, byte for byte (G3).
    await until('every replica holds the same log', () => {
      const cluster = status();
      const last = new Set(cluster.orders.map((order) => order.health?.lastNumber));
      return cluster.orders.every((order) => order.up && order.health?.logEpoch === order.health?.epoch) && last.size === 1 ? true : undefined;
    });
    const hashes = await Promise.all([1, 2, 3].map(async (id) => createHash('sha256').update(await readFile(path.join(dir, 'data', `order-${id}`, 'orders.jsonl'))).digest('hex')));
    assert.equal(new Set(hashes).size, 1, `logs are byte-identical: ${hashes.join(' ')}`);

    // Every acknowledged order once (G1, G2), and the catalog equal to the log (G4).
    const log = await readOrderLog(path.join(dir, 'data', 'order-1', 'orders.jsonl'));
    assert.equal(log.length, report.orders_placed, 'the log holds exactly the orders the clients placed');
    const [stocks] = requests([{ method: 'GET', url: `https://${lab.address('cat')}:8001/stocks`, token: TOKEN }]);
    assert.equal(stocks!.status, 200, stocks!.body);
    assertConserved(log, new Map((JSON.parse(stocks!.body) as { data: Stock[] }).data.map((stock) => [stock.name, stock])));

    // What anyone on the hosts' network saw: every trade, append, push and token crossed it, sealed.
    capture.kill('SIGINT');
    await new Promise((resolve) => capture.once('exit', resolve));
    const wire = await readFile(capturePath);
    assert.ok(wire.length > 200_000, `the capture saw the run's traffic (${wire.length} bytes)`);
    const packets = Number(/(\d+) packets captured/.exec(captureOutput)?.[1] ?? 0);
    assert.ok(packets > 1_000, `packets captured: ${captureOutput}`);
    for (const secret of [TOKEN, '"quantity"', '"transaction_number"', '"type":"', 'Bearer ', 'GET /stocks', 'POST /orders', 'bazaar-link']) {
      assert.equal(wire.includes(secret), false, `the capture holds ${JSON.stringify(secret)} in clear text`);
    }
  });

  test('a role listening beyond loopback without "tls" warns at start that it speaks in clear text; with it, none of the cluster\'s roles did', async () => {
    // The same config without "tls", its catalog on the client's host: started there, it must warn.
    const plain = JSON.parse(await readFile(configPath, 'utf8')) as Record<string, unknown> & { catalog: { host: string } };
    delete plain.tls;
    plain.dataDir = 'plain-data';
    plain.catalog = { ...plain.catalog, host: lab.address('cli') };
    const plainPath = path.join(dir, 'plain.json');
    await writeFile(plainPath, JSON.stringify(plain));
    const role = lab.spawn('cli', [process.execPath, BUNDLE, 'catalog', '--config', plainPath]);
    let output = '';
    role.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    role.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    try {
      await until('the plain catalog listens', () => (/catalog: listening/.test(output) ? true : undefined));
      assert.match(output, new RegExp(`catalog: no "tls" is configured and this role listens on ${lab.address('cli').replace(/\./g, '\\.')}: .*clear text`));
    } finally {
      role.kill('SIGKILL');
    }
    assert.equal(roleOutput.includes('clear text'), false, roleOutput);
  });

  test('admin crash reaches a replica on another host through its token-protected endpoint; admin status sees it down, the others serve on', () => {
    const follower = status().orders.find((order) => order.health?.state === 'follower')!.id;
    const crashed = lab.run('cli', [process.execPath, BUNDLE, 'admin', 'crash', '--id', String(follower), '--config', configPath]);
    assert.equal(crashed.status, 0, crashed.stderr);
    assert.match(crashed.stdout, new RegExp(`order replica ${follower} crashed`));
    const after = status();
    assert.deepEqual(after.orders.map((order) => order.up), [1, 2, 3].map((id) => id !== follower));
    const [trade] = requests([{ method: 'POST', url: `https://${lab.address('fe')}:8000/orders`, body: { name: 'FishCo', quantity: 1, type: 'sell' } }]);
    assert.equal(trade!.status, 200, `a trade still succeeds with two of three replicas: ${trade!.body}`);
    assert.match(trade!.body, /^\{"data":\{"transaction_number":\d+\}\}$/);
    const recover = lab.run('cli', [process.execPath, BUNDLE, 'admin', 'recover', '--id', String(follower), '--config', configPath]);
    assert.equal(recover.status, 1, 'no bazaar up runs here');
    assert.match(recover.stderr, new RegExp(`systemctl start bazaar-order@${follower}`));
  });

  test('a frontend cut off from the catalog alone: a trade through the other is acknowledged only once its lease ran out, its cache stops serving, trades through it still go through, the other frontend serves on', async () => {
    /** One request from the client host: status and body. */
    const call = (host: string, method: string, path: string, body?: unknown): { status: number; body: string } => requests([{ method, url: `https://${lab.address(host)}:8000${path}`, body }])[0]!;
    const volume = (reply: { body: string }): number => (JSON.parse(reply.body) as { data: { volume: number } }).data.volume;
    assert.equal(call('fe2', 'GET', '/stocks/BoarCo').status, 200);
    assert.equal(call('fe2', 'GET', '/stocks/BoarCo').status, 200, 'cached at fe2');

    lab.cut('fe2', 'cat', true);
    try {
      // G5 across frontends, with the push to fe2 really lost: a trade through fe is acknowledged
      // only once fe2's lease has run out, so a lookup through fe2 the moment the reply is in (same
      // process, no start-up between them) never shows the stock from before the trade. It may
      // refuse (503: no lease, no catalog); it must not answer from its cache. A catalog that did not
      // wait for fe2 would let fe2 serve its cached copy here for up to the 500 ms lease.
      const [first, trade, after] = requests([
        { method: 'GET', url: `https://${lab.address('fe')}:8000/stocks/BoarCo` },
        { method: 'POST', url: `https://${lab.address('fe')}:8000/orders`, body: { name: 'BoarCo', quantity: 1, type: 'sell' } },
        { method: 'GET', url: `https://${lab.address('fe2')}:8000/stocks/BoarCo` },
      ]);
      const seen = JSON.stringify({ first, trade, after });
      assert.equal(trade!.status, 200, seen);
      if (after!.status === 200) assert.ok(volume(after!) > volume(first!), `fe2 showed BoarCo from before a trade acknowledged through fe: ${seen}`);
      else assert.equal(after!.status, 503, seen);

      // The lease runs out (500 ms) with no push to renew it: fe2 must not answer from its cache.
      await sleep(1_000);
      const cached = call('fe2', 'GET', '/stocks/BoarCo');
      assert.equal(cached.status, 503, `fe2 no longer serves its cache: ${cached.status} ${cached.body}`);
      // A trade through fe2 needs only the leader (which reaches the catalog).
      const traded = call('fe2', 'POST', '/orders', { name: 'BoarCo', quantity: 1, type: 'sell' });
      assert.equal(traded.status, 200, traded.body);
      // The other frontend is unaffected, and shows the trade (its push was acknowledged).
      const before = volume(call('fe', 'GET', '/stocks/BoarCo'));
      assert.equal(call('fe', 'POST', '/orders', { name: 'BoarCo', quantity: 1, type: 'buy' }).status, 200);
      assert.equal(volume(call('fe', 'GET', '/stocks/BoarCo')), before + 1);
    } finally {
      lab.cut('fe2', 'cat', false);
    }
    // Healed: fe2 answers again, with the stock as it is now.
    const now = volume(call('fe', 'GET', '/stocks/BoarCo'));
    await until('fe2 serves again', () => {
      const reply = call('fe2', 'GET', '/stocks/BoarCo');
      return reply.status === 200 && volume(reply) === now ? true : undefined;
    });
  });
});

