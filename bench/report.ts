// Regenerates docs/evaluation.md and its plots from a results file (targets recomputed from the data).
//
//   node --import tsx bench/report.ts bench/results/<timestamp>.json [--report docs/evaluation.md]
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { computeTargets, latestAb, type Results, writeReport } from './lib/report.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values, positionals } = parseArgs({ allowPositionals: true, options: { report: { type: 'string', default: path.join(ROOT, 'docs', 'evaluation.md') } } });
const resultsPath = positionals[0];
if (resultsPath === undefined) {
  process.stderr.write('usage: node --import tsx bench/report.ts <results.json> [--report FILE]\n');
  process.exit(2);
}
const stored = JSON.parse(await readFile(resultsPath, 'utf8')) as Results;
const { targets: _stored, ...results } = stored;
// A run from before TLS was measured shows the newest A/B of TLS against none beside it.
const partial = { ...results, tls_ab: stored.tls_ab ?? (await latestAb(path.dirname(path.resolve(resultsPath)), undefined, 'tls')) };
await writeReport({ ...partial, targets: computeTargets(partial) }, values.report!, path.resolve(resultsPath));
process.stderr.write(`wrote ${path.relative(ROOT, values.report!)}\n`);
