// Recovery benchmark on its own (also part of `npm run bench`): see bench/README.md for the method.
//
//   npm run build && node --import tsx bench/recovery.ts [--orders 100000] [--runs 3] [--json FILE]
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { measureRecovery } from './lib/recovery.ts';

const { values } = parseArgs({ options: { orders: { type: 'string', default: '100000' }, runs: { type: 'string', default: '3' }, json: { type: 'string' } } });
const summary = await measureRecovery(Number(values.orders), Number(values.runs), (message) => process.stderr.write(`${message}\n`));
process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
if (values.json !== undefined) await writeFile(values.json, `${JSON.stringify(summary, null, 2)}\n`);
