// Bundles bin/bazaar.ts and every dependency into one file, dist/bazaar.mjs, that runs with plain `node`.
// The dashboard's page (its HTML, script, style and uPlot) is embedded too, so the bundle needs no
// files beside it and no network.
import { chmod } from 'node:fs/promises';
import { build } from 'esbuild';
import { readPageFiles } from './src/dashboard/page/files.mjs';

await build({
  entryPoints: ['bin/bazaar.ts'],
  outfile: 'dist/bazaar.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20.18',
  sourcemap: 'linked',
  logLevel: 'warning',
  define: { BAZAAR_PAGE_FILES: JSON.stringify(readPageFiles()) },
  // Some bundled CommonJS dependencies call require() on Node built-ins; an ESM bundle has no require
  // of its own, so give it one.
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __bazaarCreateRequire } from 'node:module';\nconst require = __bazaarCreateRequire(import.meta.url);",
  },
});
// Executable, as package.json's "bin" (and `npx bazaar`, which runs it directly) needs: esbuild
// writes it 0644, and the shebang alone does not make it runnable.
await chmod('dist/bazaar.mjs', 0o755);
