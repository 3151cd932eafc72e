// `npm run bench:dashboard`: what watching the dashboard costs the cluster. The lab's run (five
// `bazaar client` sessions, p = 0.4) on a fresh `bazaar up` each time, with the dashboard served in
// both sides; in side B a headless Chromium also has the page open (streaming, drawing its charts).
// Pairs in ABBA order, medians; the `up` process's RSS (it hosts the dashboard) before and after.
// Writes bench/results/dashboard-<time>.json; the evaluation report shows the newest.
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../harness/browser.ts';
import { abba, measured, median } from './lib/measure.ts';
import { checkFiles, runClient, withCluster } from './lib/fixture.ts';
import { WARMUP_ITERATIONS } from './lib/scenarios.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { pairs: { type: 'string', default: '4' }, iterations: { type: 'string', default: '200' }, help: { type: 'boolean', default: false } } });
if (values.help) {
  process.stdout.write('npm run bench:dashboard -- [--pairs N] [--iterations N]\n  the lab run with the dashboard open in a browser (B) and not (A), N pairs in ABBA order\n');
  process.exit(0);
}
const pairs = Number(values.pairs);
const iterations = Number(values.iterations);

function rssMb(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? Number.NaN);
  return Math.round(kb / 102.4) / 10;
}

interface Run {
  readonly side: 'A' | 'B';
  readonly trade_p50_ms: number;
  readonly lookup_p50_ms: number;
  readonly query_p50_ms: number;
  readonly errors: number;
  readonly mismatches: number;
  readonly files_ok: boolean;
  readonly up_rss_mb_before: number;
  readonly up_rss_mb_after: number;
}

async function run(side: 'A' | 'B', seed: number): Promise<Run> {
  return withCluster({ cache: true }, async (local) => {
    let browser: Browser | undefined;
    try {
      if (side === 'B') {
        browser = await launchChromium();
        const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
        await page.goto(local.cluster.url('dashboard'));
        await page.locator('#connection[data-state="open"]').waitFor({ timeout: 10_000 });
      }
      const frontend = local.cluster.url('frontend');
      await runClient(local, frontend, { p: 0.5, iterations: WARMUP_ITERATIONS, clients: 5, seed: seed + 1 });
      const before = rssMb(local.up.pid);
      const report = await runClient(local, frontend, { p: 0.4, iterations, clients: 5, seed });
      const after = rssMb(local.up.pid);
      const files = await checkFiles(local);
      return {
        side,
        trade_p50_ms: measured(report.latency.trade.p50_ms, 'trade p50'),
        lookup_p50_ms: measured(report.latency.lookup.p50_ms, 'lookup p50'),
        query_p50_ms: measured(report.latency.order_query.p50_ms, 'order query p50'),
        errors: report.errors,
        mismatches: report.mismatches,
        files_ok: files.identical && files.conserved,
        up_rss_mb_before: before,
        up_rss_mb_after: after,
      };
    } finally {
      await browser?.close();
    }
  });
}

const order = abba(pairs);
const runs: Run[] = [];
const started = new Date();
for (const [index, side] of order.entries()) {
  process.stderr.write(`[${index + 1}/${order.length}] ${side === 'A' ? 'dashboard served, no page open' : 'dashboard open in Chromium'}\n`);
  runs.push(await run(side, 977 + index));
}
const figures = (['trade_p50_ms', 'lookup_p50_ms', 'query_p50_ms', 'up_rss_mb_after'] as const).map((figure) => {
  const a = runs.filter((item) => item.side === 'A').map((item) => item[figure]);
  const b = runs.filter((item) => item.side === 'B').map((item) => item[figure]);
  const round = (value: number): number => Math.round(value * 1000) / 1000;
  return { figure, a_median: round(median(a)), b_median: round(median(b)), ratio: Math.round((median(b) / median(a)) * 1000) / 1000, a_runs: a, b_runs: b };
});
const ok = runs.every((item) => item.errors === 0 && item.mismatches === 0 && item.files_ok);
process.stdout.write('| figure | no page open (A) | page open (B) | B/A | A runs | B runs |\n| --- | --- | --- | --- | --- | --- |\n');
for (const row of figures) process.stdout.write(`| ${row.figure} | ${row.a_median} | ${row.b_median} | ${row.ratio} | ${row.a_runs.join(', ')} | ${row.b_runs.join(', ')} |\n`);
process.stdout.write(ok ? 'every run: 0 errors, 0 mismatches, logs identical, catalog = log\n' : 'A RUN FAILED its checks: see the results file\n');
const dir = path.join(ROOT, 'bench', 'results');
await mkdir(dir, { recursive: true });
const file = path.join(dir, `dashboard-${started.toISOString().replace(/[:.]/g, '-')}.json`);
await writeFile(file, `${JSON.stringify({ started_at: started.toISOString(), pairs, iterations, clients: 5, p: 0.4, ok, figures, runs }, null, 2)}\n`);
process.stdout.write(`results: ${path.relative(ROOT, file)}\n`);
process.exitCode = ok ? 0 : 1;
