// `npm run bench:ab -- --base FILE`: the previous build against this one, interleaved on the same
// machine. Each run is a child process on fresh clusters (bench/ab-run.ts); runs go in ABBA order
// (A = --base, B = this build's dist/bazaar.mjs), and each figure is reported as the median of its
// runs, with the ratio B/A and every value, so noise is visible next to the difference.
//
//   git stash && npm run build && cp dist/bazaar.mjs /tmp/base.mjs && git stash pop
//   npm run bench:ab -- --base /tmp/base.mjs [--pairs 4]
//
// The cost of the cluster's TLS: one build, its clusters without TLS (A) and with it (B).
//   npm run bench:ab -- --base dist/bazaar.mjs --candidate-tls --base-label 'TLS off' --candidate-label 'TLS on'
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { abba, median } from './lib/measure.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { base: { type: 'string' }, candidate: { type: 'string' }, 'base-label': { type: 'string' }, 'candidate-label': { type: 'string' }, 'base-tls': { type: 'boolean', default: false }, 'candidate-tls': { type: 'boolean', default: false }, pairs: { type: 'string', default: '4' }, help: { type: 'boolean', default: false } } });
if (values.help || values.base === undefined) {
  process.stdout.write('npm run bench:ab -- --base BUNDLE [--candidate BUNDLE] [--base-label TEXT] [--candidate-label TEXT] [--base-tls] [--candidate-tls] [--pairs N]\n  N pairs in ABBA order; candidate defaults to dist/bazaar.mjs; labels (say, the commits) name the builds in the report;\n  --base-tls / --candidate-tls run that side\'s clusters with the cluster\'s TLS (certificates from bazaar certs)\n');
  process.exit(values.help ? 0 : 2);
}
const sides = { A: path.resolve(values.base), B: path.resolve(values.candidate ?? path.join(ROOT, 'dist/bazaar.mjs')) };
for (const file of Object.values(sides)) {
  if (!existsSync(file)) {
    process.stderr.write(`no bundle at ${file}\n`);
    process.exit(2);
  }
}
const tls = { A: values['base-tls'], B: values['candidate-tls'] };
const pairs = Number(values.pairs);
const order = abba(pairs);
type Run = Record<string, number | boolean | string | null>;
const runs: Record<'A' | 'B', Run[]> = { A: [], B: [] };
const started = Date.now();
for (const [index, side] of order.entries()) {
  process.stderr.write(`[${index + 1}/${order.length} ${Math.round((Date.now() - started) / 1000)}s] ${side}: ${sides[side]}${tls[side] ? ' (TLS)' : ''}\n`);
  const child = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench/ab-run.ts')], { env: { ...process.env, BAZAAR_BUNDLE: sides[side], BAZAAR_CONFIG_WITHOUT_DASHBOARD: '1', BAZAAR_BENCH_TLS: tls[side] ? '1' : '0' }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const line = child.stdout.trim().split('\n').pop() ?? '';
  if (child.status !== 0 || !line.startsWith('{')) {
    process.stderr.write(`run ${index + 1} (${side}) failed with status ${child.status}\n`);
    process.exit(1);
  }
  const run = JSON.parse(line) as Run;
  if (run.ok !== true) process.stderr.write(`  run ${index + 1} (${side}) saw a problem: ${String(run.problems)}\n`);
  runs[side].push(run);
}
const metrics = Object.keys(runs.A[0]!).filter((key) => typeof runs.A[0]![key] === 'number');
const round = (value: number): number => Math.round(value * 1000) / 1000;
const figures = metrics.map((metric) => {
  const a = runs.A.map((run) => run[metric] as number);
  const b = runs.B.map((run) => run[metric] as number);
  return { figure: metric, a_median: round(median(a)), b_median: round(median(b)), ratio: round(median(b) / median(a)), a_runs: a.map(round), b_runs: b.map(round) };
});
process.stdout.write(`| figure | A median | B median | B/A | A runs | B runs |\n| --- | --- | --- | --- | --- | --- |\n`);
for (const row of figures) process.stdout.write(`| ${row.figure} | ${row.a_median} | ${row.b_median} | ${row.ratio} | ${row.a_runs.join(', ')} | ${row.b_runs.join(', ')} |\n`);
const failed = [...runs.A, ...runs.B].some((run) => run.ok !== true);
// Kept for the evaluation report, which shows the newest A/B beside the run it generates.
const startedAt = new Date(started).toISOString();
const resultsDir = path.join(ROOT, 'bench', 'results');
await mkdir(resultsDir, { recursive: true });
const resultsPath = path.join(resultsDir, `ab-${startedAt.replace(/[:.]/g, '-')}.json`);
await writeFile(resultsPath, `${JSON.stringify({ started_at: startedAt, finished_at: new Date().toISOString(), pairs, order, base: values.base, candidate: values.candidate ?? 'dist/bazaar.mjs', base_label: values['base-label'] ?? path.basename(values.base), candidate_label: values['candidate-label'] ?? path.basename(values.candidate ?? 'dist/bazaar.mjs'), tls, ok: !failed, figures, runs }, null, 2)}\n`);
process.stderr.write(`wrote ${path.relative(ROOT, resultsPath)}\n`);
process.exit(failed ? 1 : 0);
