// A replica with a lost disk recovering from its peers (issue 24's figures): for each size, recovery
// idle, recovery under five traders, and the same five traders with no recovery, on fresh clusters.
//
//   npm run bench:lost-disk [-- --orders 100000,1000000] [--json FILE]
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { lostDiskRun, type LostDiskRun } from './lib/lost-disk.ts';

const { values } = parseArgs({ options: { orders: { type: 'string', default: '100000,1000000' }, json: { type: 'string' } } });
const sizes = values.orders.split(',').map(Number);
if (sizes.some((size) => !Number.isInteger(size) || size < 1)) throw new Error('--orders takes sizes separated by commas, e.g. 100000,1000000');
const runs: LostDiskRun[] = [];
for (const orders of sizes) {
  for (const options of [{ load: false, recovery: true }, { load: true, recovery: true }, { load: true, recovery: false }]) {
    process.stderr.write(`lost disk: ${orders.toLocaleString('en-US')} orders, ${options.recovery ? 'recovery' : 'no recovery'}, ${options.load ? 'five traders' : 'idle'}\n`);
    const run = await lostDiskRun(orders, options);
    process.stderr.write(`  ${JSON.stringify(run)}\n`);
    runs.push(run);
  }
}
const rows = runs.map((run) => `| ${run.orders.toLocaleString('en-US')} | ${run.recovery ? 'yes' : 'no'} | ${run.load ? '5 traders' : 'idle'} | ${run.recovered_ms ?? '–'} | ${run.recovering_peak_rss_mb ?? '–'} | ${run.trades} | ${run.trade_p50_ms ?? '–'} | ${run.trade_p99_ms ?? '–'} |`);
process.stdout.write(['| orders | lost disk recovering | load | recovered in (ms) | its peak RSS (MB) | trades | trade p50 (ms) | trade p99 (ms) |', '| --- | --- | --- | --- | --- | --- | --- | --- |', ...rows].join('\n') + '\n');
const file = values.json ?? path.join('bench', 'results', `lost-disk-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
await mkdir(path.dirname(file), { recursive: true });
await writeFile(file, `${JSON.stringify({ at: new Date().toISOString(), runs }, null, 2)}\n`);
process.stderr.write(`wrote ${file}\n`);
