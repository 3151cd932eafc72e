// Soak: a long, seeded run of the bazaar under load. Phase 1 drives it steadily and samples every
// process's memory (RSS must stay flat); phase 2 keeps the load on and kill -9s a random process
// every few seconds (a replica, the leader at least a third of the time, the catalog or the
// frontend), restarting it through `bazaar up`. At the end: the client's verification, the three
// logs byte-identical (G3), the catalog equal to the log (G4).
//
//   npm run build && node --import tsx bench/soak.ts [--steady-s 120] [--chaos-s 60] [--seed 6] [--json FILE]
import { readFile, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Client } from 'undici';
import * as admin from '../src/admin/index.ts';
import * as client from '../src/client/index.ts';
import { seededRandom } from '../src/client/random.ts';
import { median, trendMbPerMinute } from './lib/measure.ts';
import { checkFiles, withCluster } from './lib/fixture.ts';

const { values } = parseArgs({ options: { 'steady-s': { type: 'string', default: '120' }, 'chaos-s': { type: 'string', default: '60' }, seed: { type: 'string', default: '6' }, json: { type: 'string' } } });
const STEADY_S = Number(values['steady-s']);
const CHAOS_S = Number(values['chaos-s']);
const SEED = Number(values.seed);
const SAMPLE_MS = 5_000;

async function rssMb(pid: number): Promise<number> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    return Math.round(Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024);
  } catch {
    return Number.NaN;
  }
}

const started = Date.now();
const log = (message: string) => process.stderr.write(`[soak ${Math.round((Date.now() - started) / 1000)}s] ${message}\n`);

const summary = await withCluster({ cache: true }, async (local) => {
  const control = new Client('http://up', { socketPath: `${local.cluster.dataDir}/up.sock` });
  const children = async (): Promise<Record<string, { pid: number; running: boolean }>> => {
    const reply = await control.request({ method: 'GET', path: '/health' });
    return ((await reply.body.json()) as { data: { children: Record<string, { pid: number; running: boolean }> } }).data.children;
  };
  const stop = new AbortController();
  const running = client.run({
    frontend: local.cluster.url('frontend'),
    p: 0.5,
    iterations: 100_000_000,
    clients: 5,
    seed: SEED,
    stocks: local.config.catalog.stocks.map((stock) => stock.name),
    signal: stop.signal,
  });

  // Phase 1: steady load, memory sampled.
  const samples: Array<{ t_s: number; rss_mb: Record<string, number> }> = [];
  const steadyEnd = Date.now() + STEADY_S * 1000;
  while (Date.now() < steadyEnd) {
    await sleep(SAMPLE_MS);
    const rss: Record<string, number> = {};
    for (const [name, child] of Object.entries(await children())) rss[name] = await rssMb(child.pid);
    samples.push({ t_s: Math.round((Date.now() - started) / 1000), rss_mb: rss });
    log(`steady: ${Object.entries(rss).map(([name, mb]) => `${name} ${mb} MB`).join(', ')}`);
  }

  // Phase 2: crashes under load.
  const random = seededRandom(SEED);
  const crashes: string[] = [];
  /** Time from asking `up` to restart a killed role until it answers /health again. */
  const restarts: Array<{ role: string; ms: number }> = [];
  const chaosEnd = Date.now() + CHAOS_S * 1000;
  for (let round = 0; Date.now() < chaosEnd; round += 1) {
    const status = await admin.status(local.config);
    const leader = status.orders.find((order) => order.health?.state === 'leader')?.id;
    const pick = round % 3 === 0 && leader !== undefined ? `order-${leader}` : random.pick(['order-1', 'order-2', 'order-3', 'catalog', 'frontend']);
    const pid = (await children())[pick]?.pid;
    if (pid === undefined) continue;
    process.kill(pid, 'SIGKILL');
    crashes.push(pick === `order-${leader}` ? `${pick} (leader)` : pick);
    log(`chaos: killed ${pick}${pick === `order-${leader}` ? ' (the leader)' : ''}`);
    await sleep(random.int(200, 600));
    const restartStarted = performance.now();
    const reply = await control.request({ method: 'POST', path: '/recover', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ role: pick }), headersTimeout: 30_000 });
    await reply.body.dump();
    restarts.push({ role: pick.replace(/-\d+$/, ''), ms: Math.round(performance.now() - restartStarted) });
    await sleep(random.int(1_000, 3_000));
  }
  stop.abort();
  const report = await running;
  await control.close();
  const files = await checkFiles(local);
  log(client.formatReport(report));
  const first = samples[1] ?? samples[0];
  const last = samples.at(-1);
  const afterWarmup = samples.slice(1);
  const growth = Object.fromEntries(
    Object.keys(last?.rss_mb ?? {}).map((name) => [
      name,
      {
        after_warmup_mb: first?.rss_mb[name],
        end_mb: last?.rss_mb[name],
        max_mb: Math.max(...samples.map((sample) => sample.rss_mb[name] ?? 0)),
        trend_mb_per_min: trendMbPerMinute(afterWarmup.map((sample) => [sample.t_s, sample.rss_mb[name] ?? Number.NaN] as const)),
      },
    ]),
  );
  const restartMs = Object.fromEntries(
    [...new Set(restarts.map((restart) => restart.role))].map((role) => {
      const times = restarts.filter((restart) => restart.role === role).map((restart) => restart.ms);
      return [role, { count: times.length, median: median(times), max: Math.max(...times) }];
    }),
  );
  return { seed: SEED, steady_s: STEADY_S, chaos_s: CHAOS_S, crashes, restarts, restart_ms: restartMs, report, files, rss: growth, samples };
});

const text = `${JSON.stringify(summary, null, 2)}\n`;
if (values.json !== undefined) await writeFile(values.json, text);
process.stdout.write(JSON.stringify({ seed: summary.seed, crashes: summary.crashes.length, orders: summary.report.orders_placed, errors: summary.report.errors, mismatches: summary.report.mismatches, logs_identical: summary.files.identical, catalog_equals_log: summary.files.conserved, restart_ms: summary.restart_ms, rss: summary.rss }, null, 2) + '\n');
process.exitCode = summary.report.ok && summary.files.identical && summary.files.conserved ? 0 : 1;
