// The catalog rebuilt from the order log on its own (also part of `npm run bench`): see bench/README.md.
//
//   npm run build && node --import tsx bench/catalog-rebuild.ts [--orders 100000,1000000]
import { parseArgs } from 'node:util';
import { measureCatalogRebuild } from './lib/catalog-rebuild.ts';

const { values } = parseArgs({ options: { orders: { type: 'string', default: '100000' } } });
for (const orders of values.orders!.split(',').map(Number)) {
  const run = await measureCatalogRebuild(orders, (message) => process.stderr.write(`${message}\n`));
  process.stdout.write(`${JSON.stringify(run)}\n`);
}
